/**
 * The chat page's HTML (served at `/`). The page script is `browser.ts`, bundled to `/app.js`.
 *
 * @module
 */

/**
 * The HTML of the chat page.
 *
 * @example
 * ```ts
 * app.get("/", (c) => c.html(CHAT_HTML));
 * ```
 */
export const CHAT_HTML: string = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>edgeplane chat</title>
<style>
  :root { font-family: system-ui, sans-serif; color: #1d2330; background: #f4f6fa; }
  body { margin: 0; height: 100vh; display: flex; flex-direction: column; }
  header { display: flex; align-items: center; gap: 1rem; padding: .6rem 1rem; background: #1d2330; color: #fff; }
  header h1 { font-size: 1.1rem; margin: 0; }
  #status { margin-left: auto; font-size: .85rem; padding: .2rem .6rem; border-radius: 1rem; background: #8a6d00; }
  #status[data-state="open"] { background: #1f7a3a; }
  #status[data-state="closed"] { background: #8a1f1f; }
  main { flex: 1; display: flex; min-height: 0; }
  aside { width: 14rem; padding: .8rem; background: #fff; border-right: 1px solid #dde2ea; overflow: auto; }
  aside h3 { font-size: .8rem; text-transform: uppercase; color: #667; margin: 1rem 0 .3rem; }
  aside ul { list-style: none; margin: 0; padding: 0; }
  #rooms li { cursor: pointer; padding: .2rem .4rem; border-radius: .3rem; }
  #rooms li.current { background: #e3e9f6; font-weight: 600; }
  #online li::before { content: "●"; color: #1f7a3a; margin-right: .4rem; }
  section { flex: 1; display: flex; flex-direction: column; min-width: 0; }
  #messages { flex: 1; overflow: auto; padding: .8rem 1rem; }
  .msg { margin: .2rem 0; } .msg b { margin-right: .4rem; } .msg .seq { color: #99a; font-size: .75rem; margin-left: .4rem; }
  .note { color: #8a6d00; font-style: italic; }
  form { display: flex; gap: .4rem; } #send-form { padding: .6rem 1rem; background: #fff; border-top: 1px solid #dde2ea; }
  input { padding: .4rem; border: 1px solid #c8cfdb; border-radius: .3rem; font: inherit; min-width: 0; }
  #text { flex: 1; } #name { width: 8rem; }
  button { padding: .4rem .8rem; border: 0; border-radius: .3rem; background: #2f5bd3; color: #fff; font: inherit; cursor: pointer; }
</style>
</head>
<body>
<header><h1>edgeplane chat</h1><span id="room-title"></span><span id="status" data-state="connecting">connecting…</span></header>
<main>
  <aside>
    <form id="join-form"><input id="room-input" placeholder="room" aria-label="room"><button>Join</button></form>
    <h3>Rooms</h3><ul id="rooms"></ul>
    <h3>Online here</h3><ul id="online"></ul>
  </aside>
  <section>
    <div id="messages" aria-live="polite"></div>
    <form id="send-form"><input id="name" aria-label="your name"><input id="text" placeholder="Message" autocomplete="off" aria-label="message"><button id="send">Send</button></form>
  </section>
</main>
<script type="module" src="./app.js"></script>
</body>
</html>
`;
