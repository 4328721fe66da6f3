import { runService } from '../../lib/service';
import { loginServerConfig } from './config';
import { startLoginServer } from './login-server';

void runService(loginServerConfig, startLoginServer);
