import { runService } from '../../lib/service';
import { fileServerConfig } from './config';
import { startFileServer } from './file-server';

void runService(fileServerConfig, startFileServer);
