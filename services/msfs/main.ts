import { runService } from '../../lib/service';
import { msfsConfig } from './config';
import { startMsfs } from './msfs';

void runService(msfsConfig, startMsfs);
