/**
 * The web chat's entry point (index.html loads it as a module after the three
 * vendor scripts). The page lives at <login server>/chat/, so the login server's
 * /msg_server is one level up.
 */
import { ChatClient } from './chat-client.js';
import { ChatView } from './view.js';

const client = new ChatClient(new URL('../', location.href).href);
new ChatView(client);
