import { runService } from '../../lib/service';
import { pushServerConfig } from './config';
import { startPushServer } from './push-server';

void runService(pushServerConfig, startPushServer);
