import { runService } from '../../lib/service';
import { msgServerConfig } from './config';
import { startMsgServer } from './msg-server';

void runService(msgServerConfig, startMsgServer);
