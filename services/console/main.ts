import { runService } from '../../lib/service';
import { consoleConfig } from './config';
import { startConsole } from './console';

void runService(consoleConfig, startConsole);
