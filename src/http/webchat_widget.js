// Parley web chat widget. Embed with one line:
//   <script src="{{origin}}/webchat/{{channel_id}}/widget.js" async></script>
// Optional attributes on that script tag:
//   data-title="Chat with Villa Serena"   the panel's title
//   data-color="#0b6e4f"                  the launcher's colour
//   data-user-id, data-user-hash, data-name
//     an identified visitor: data-user-hash is HMAC-SHA256 of data-user-id with the
//     channel's identity secret, as lowercase hex, computed on the business's server.
(function () {
  "use strict";
  if (window.__parleyWebchat) return;
  window.__parleyWebchat = true;
  var origin = "{{origin}}";
  var channelId = "{{channel_id}}";
  var script = document.currentScript ||
    document.querySelector('script[src*="/webchat/' + channelId + '/widget.js"]');
  var data = (script && script.dataset) || {};
  var query = [];
  [["user_id", data.userId], ["user_hash", data.userHash], ["name", data.name], ["title", data.title]]
    .forEach(function (pair) { if (pair[1]) query.push(pair[0] + "=" + encodeURIComponent(pair[1])); });
  var color = /^#[0-9a-fA-F]{3,8}$/.test(data.color || "") ? data.color : "#0b6e4f";

  var launcher = document.createElement("button");
  launcher.type = "button";
  launcher.setAttribute("aria-label", "Open chat");
  launcher.id = "parley-webchat-launcher";
  launcher.textContent = "💬";
  launcher.style.cssText = "position:fixed;right:20px;bottom:20px;width:56px;height:56px;border:0;" +
    "border-radius:50%;background:" + color + ";color:#fff;font-size:26px;cursor:pointer;" +
    "box-shadow:0 4px 16px rgba(0,0,0,.2);z-index:2147483000";

  var frame = null;
  function open() {
    if (!frame) {
      frame = document.createElement("iframe");
      frame.id = "parley-webchat-frame";
      frame.title = data.title || "Chat";
      frame.src = origin + "/webchat/" + channelId + "/frame" + (query.length ? "?" + query.join("&") : "");
      frame.style.cssText = "position:fixed;right:20px;bottom:88px;width:min(380px,calc(100vw - 40px));" +
        "height:min(600px,calc(100vh - 120px));border:0;border-radius:12px;background:#fff;" +
        "box-shadow:0 8px 32px rgba(0,0,0,.25);z-index:2147483000";
      document.body.appendChild(frame);
    } else {
      frame.style.display = frame.style.display === "none" ? "block" : "none";
    }
    var shown = frame.style.display !== "none";
    launcher.setAttribute("aria-label", shown ? "Close chat" : "Open chat");
    launcher.textContent = shown ? "✕" : "💬";
  }
  launcher.addEventListener("click", open);
  function mount() { document.body.appendChild(launcher); }
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
})();
