/**
 * The console's server-rendered HTML: the sign-in page and the shell of the
 * app (public/console.js fills it in). Every value put into markup is escaped.
 */

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The sign-in page carries its own small style block (with the page's nonce): nothing else is served before sign-in. */
export function signInPage(options: { csrf: string; nonce: string; message?: string; name?: string }): string {
  const message = options.message ? `<p class="message" role="alert">${escapeHtml(options.message)}</p>` : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>TeamTalk console: sign in</title>
<style nonce="${options.nonce}">
  body { font: 15px/1.4 system-ui, sans-serif; background: #f3f4f6; display: grid; place-items: center; min-height: 100vh; margin: 0; }
  form { background: #fff; padding: 2em; border-radius: 8px; box-shadow: 0 1px 4px #0002; width: 20em; }
  h1 { font-size: 1.2em; margin-top: 0; }
  label { display: block; margin: .8em 0 .2em; }
  input { width: 100%; box-sizing: border-box; padding: .5em; font: inherit; }
  button { margin-top: 1.2em; width: 100%; padding: .6em; font: inherit; background: #2563eb; color: #fff; border: 0; border-radius: 4px; }
  .message { color: #b91c1c; }
</style>
</head>
<body>
<form method="post" action="/signin" id="signin">
  <h1>TeamTalk console</h1>
  ${message}
  <input type="hidden" name="csrf" value="${escapeHtml(options.csrf)}">
  <label for="name">Operator</label>
  <input id="name" name="name" autocomplete="username" required value="${escapeHtml(options.name ?? 'admin')}">
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password" required>
  <button type="submit">Sign in</button>
</form>
</body>
</html>
`;
}

/** A short page for a refused sign-in link or too many attempts. */
export function noticePage(options: { nonce: string; title: string; text: string }): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(options.title)}</title>
<style nonce="${options.nonce}">body { font: 15px/1.4 system-ui, sans-serif; margin: 3em; }</style></head>
<body><h1>${escapeHtml(options.title)}</h1><p>${escapeHtml(options.text)}</p><p><a href="/signin">Sign in</a></p></body></html>
`;
}

export function appPage(options: { operator: string; csrf: string }): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csrf-token" content="${escapeHtml(options.csrf)}">
<title>TeamTalk console</title>
<link rel="stylesheet" href="/assets/console.css">
<script src="/assets/console.js" defer></script>
</head>
<body>
<header>
  <h1>TeamTalk console</h1>
  <span id="operator">${escapeHtml(options.operator)}</span>
  <form method="post" action="/signout" id="signout">
    <input type="hidden" name="csrf" value="${escapeHtml(options.csrf)}">
    <button type="submit">Sign out</button>
  </form>
</header>
<main>
  <p id="notice" role="status"></p>
  <section id="cluster">
    <h2>Cluster <small id="updated"></small></h2>
    <h3>Msg servers</h3>
    <table id="msg-servers"><thead><tr><th>name</th><th>client address</th><th>state</th><th>users</th><th>load</th><th>links</th><th>log level</th><th></th></tr></thead><tbody></tbody></table>
    <h3>Route servers, db-proxies, login servers</h3>
    <table id="services"><thead><tr><th>service</th><th>admin endpoint</th><th>up</th><th>details</th><th>log level</th></tr></thead><tbody></tbody></table>
  </section>
  <section id="charts">
    <h2>Live</h2>
    <figure><figcaption>messages stored per second</figcaption><svg id="chart-rate" viewBox="0 0 600 140" role="img" aria-label="messages per second"></svg></figure>
    <figure><figcaption>store latency (ms): p50 <span class="p50">&#9632;</span> p99 <span class="p99">&#9632;</span></figcaption><svg id="chart-latency" viewBox="0 0 600 140" role="img" aria-label="store latency"></svg></figure>
  </section>
  <section id="users">
    <h2>Online users: <span id="online-count">0</span></h2>
    <form id="user-search"><input id="user-query" name="q" placeholder="name or id" maxlength="64" autocomplete="off"><button type="submit">Search</button></form>
    <table id="user-results"><thead><tr><th>user</th><th>id</th><th>msg server</th><th>devices</th><th></th></tr></thead><tbody></tbody></table>
  </section>
  <section id="accounts">
    <h2>Accounts</h2>
    <form id="account-form"><input id="account-name" name="name" placeholder="login name" maxlength="32" required autocomplete="off">
      <button type="submit" name="action" value="disable" id="account-disable">Disable</button>
      <button type="submit" name="action" value="enable" id="account-enable">Enable</button></form>
  </section>
  <section id="warnings-section">
    <h2>Recent warnings</h2>
    <ol id="warnings"></ol>
  </section>
  <section id="actions-section">
    <h2>Actions</h2>
    <ol id="actions"></ol>
  </section>
</main>
</body>
</html>
`;
}
