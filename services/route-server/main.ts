import { runService } from '../../lib/service';
import { routeServerConfig } from './config';
import { startRouteServer } from './route-server';

void runService(routeServerConfig, startRouteServer);
