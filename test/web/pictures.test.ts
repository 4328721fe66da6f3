/**
 * Pictures in the web chat, through the file store the login server names
 * (msfsPrior): image markup from a TCP client is shown as a picture when it is
 * on the file store and as a link otherwise; a picture picked in the page is
 * uploaded (with the size tag msfs keeps) and arrives as TeamTalk image markup;
 * with no file store answering, sending pictures is off and the page says why.
 */
import t from 'tap';
import { deflateSync, crc32 } from 'node:zlib';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ElementHandle } from 'puppeteer-core';
import { IM } from '../../pdu/commands';
import { decryptMessageText } from '../../lib/message-crypto';
import { freeLoopbackPort } from '../../scripts/infra/system';
import { launchBrowser } from '../helpers/browser';
import { PASSWORD, startCluster } from '../helpers/cluster';
import { ChatPage } from './chat-page';
import { startFileStoreStandIn } from './file-store-stand-in';

/** In the page functions below (they run in the browser). */
interface PageImage {
  complete: boolean;
  naturalWidth: number;
  naturalHeight: number;
  getAttribute(name: string): string | null;
}
declare const document: { querySelectorAll(selector: string): Iterable<PageImage> };
type HTMLInputElement = { disabled: boolean };

const PREFIX = '&$#@~^@[{:';
const SUFFIX = ':}]&$~@#@';

/** A real PNG of width x height grey pixels. */
function png(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(data.length, 0);
    head.write(type, 4, 'ascii');
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
    return Buffer.concat([head, data, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 0, 0, 0, 0], 8); // 8-bit greyscale
  const rows = Buffer.concat(Array.from({ length: height }, () => Buffer.concat([Buffer.from([0]), Buffer.alloc(width, 0x80)])));
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(rows)), chunk('IEND', Buffer.alloc(0))]);
}

t.test('pictures through the file store: shown, linked, uploaded and sent as image markup', async (t) => {
  const store = await startFileStoreStandIn(t);
  const cluster = await startCluster(t, { msgServers: 1, webSocket: true, login: { msfsUrl: store.url } });
  const [aliceId, bobId] = await cluster.addUsers(['alice', 'bob']);
  const bob = await cluster.loginAs('bob');
  const browser = await launchBrowser(t);
  const alice = await ChatPage.signedIn(browser, cluster.webChatUrl, 'alice', PASSWORD);
  await alice.openPerson(bobId);
  await alice.page.waitForSelector('#picture-label[data-file-store="available"]');

  const picture = store.put('cat_4x3.png', png(4, 3));
  await bob.sendText(aliceId, `look: ${PREFIX}${picture}${SUFFIX} and ${PREFIX}http://elsewhere.example/x.png${SUFFIX}`);
  await alice.page.waitForSelector(`#message-list img[src="${picture}"]`);
  const size = await alice.page.waitForFunction(
    (src: string) => {
      const img = [...document.querySelectorAll('#message-list img')].find((i) => i.getAttribute('src') === src);
      return img && img.complete && img.naturalWidth > 0 ? `${img.naturalWidth}x${img.naturalHeight}` : false;
    },
    {},
    picture,
  );
  t.equal(await size.jsonValue(), '4x3', 'the picture from the file store is loaded and shown');
  const body = await alice.page.$eval('#message-list li:last-child .body', (e) => e.textContent);
  t.equal(body, 'look:  and picture: http://elsewhere.example/x.png', 'text around it kept; a picture from elsewhere is a link, not loaded');
  t.equal(await alice.page.$$eval('#message-list img', (imgs) => imgs.length), 1);

  const dir = mkdtempSync(join(tmpdir(), 'tt-picture-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'holiday photo.png');
  const bytes = png(30, 20);
  writeFileSync(file, bytes);
  const input = (await alice.page.$('#picture-input')) as ElementHandle<HTMLInputElement>;
  await input.uploadFile(file);
  const got = await bob.next(IM.Message.IMMsgData, (m) => m.from_user_id === aliceId, 15_000);
  const text = decryptMessageText(got.msg_data)?.toString() ?? '';
  t.equal(store.files.length, 2);
  const uploaded = store.files[1];
  t.equal(uploaded.uploadName, 'holiday_photo_30x20.png', 'uploaded with the size tag msfs keeps');
  t.same(uploaded.bytes, bytes, 'the file store has the picture byte for byte');
  t.equal(text, `${PREFIX}${store.url}${uploaded.path}${SUFFIX}`, 'bob gets TeamTalk image markup with the file store URL');
  await alice.page.waitForSelector(`#message-list img[src="${store.url}${uploaded.path}"]`);
  t.pass('and alice sees her own picture');
  t.same(browser.pageErrors, []);
});

t.test('with no file store answering, pictures cannot be sent and the page says why', async (t) => {
  const nowhere = `http://127.0.0.1:${await freeLoopbackPort()}/`;
  const cluster = await startCluster(t, { msgServers: 1, webSocket: true, login: { msfsUrl: nowhere } });
  const [, bobId] = await cluster.addUsers(['alice', 'bob']);
  const browser = await launchBrowser(t);
  const alice = await ChatPage.signedIn(browser, cluster.webChatUrl, 'alice', PASSWORD);
  await alice.openPerson(bobId);
  await alice.page.waitForSelector('#picture-label[data-file-store="unavailable"]', { timeout: 15_000 });
  t.ok(await alice.page.$eval('#picture-input', (i) => (i as HTMLInputElement).disabled), 'the picture button is off');
  t.match(await alice.page.$eval('#picture-label', (l) => l.getAttribute('title')), new RegExp(`Pictures cannot be sent: the file store at ${nowhere} does not answer`));
  await alice.send('text still works');
  t.same(browser.pageErrors, []);
});
