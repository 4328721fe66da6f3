import { runService } from '../../lib/service';
import { dbProxyConfig } from './config';
import { startDbProxy } from './db-proxy';

void runService(dbProxyConfig, startDbProxy);
