  /* ---------- styles ---------- */
  // Where the open chat covers the page: a phone, upright or sideways (a touch screen under
  // 480px tall). A desktop window that short (a screen split top and bottom, developer tools
  // docked below) keeps the chat beside the page, down to 320px, where that leaves no room.
  const SMALL = "(max-width:480px),(max-height:480px) and (pointer:coarse),(max-height:320px)";
  const STYLE = `
:host{all:initial!important}
:host::backdrop{display:none!important}
.probe{position:fixed;top:0;bottom:0;left:0;width:0;visibility:hidden;pointer-events:none}
*,*::before,*::after{box-sizing:border-box;margin:0;padding:0;border:0;font:inherit;color:inherit;background:none;text-align:start;text-transform:none;letter-spacing:normal;word-spacing:normal;text-indent:0;text-shadow:none;float:none;min-width:0}
[hidden]{display:none!important}
.root{position:fixed;z-index:2147483000;bottom:20px;right:20px;font:400 14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#111827;direction:ltr;-webkit-text-size-adjust:100%;text-size-adjust:100%;-webkit-font-smoothing:antialiased}
.root.left{right:auto;left:20px}
button{cursor:pointer;line-height:1.2;font-size:14px;-webkit-appearance:none;appearance:none}
button:disabled,button[aria-disabled=true]{cursor:default;opacity:.5}
:focus{outline:none}
:focus-visible{outline:2px solid #2563eb;outline-offset:2px}
.launcher{display:flex;align-items:center;justify-content:center;width:56px;height:56px;border-radius:28px;background:var(--p);color:var(--pc);box-shadow:0 6px 20px rgba(0,0,0,.22);transition:transform .15s}
.launcher:hover{transform:scale(1.06)}
.panel{position:absolute;bottom:72px;right:0;display:flex;flex-direction:column;width:370px;height:600px;max-height:calc(100vh - 110px);background:#fff;border:1px solid rgba(0,0,0,.08);border-radius:16px;box-shadow:0 12px 40px rgba(0,0,0,.22);overflow:hidden}
.left .panel{right:auto;left:0}
.head{display:flex;align-items:center;gap:8px;flex:none;padding:12px 10px 12px 14px;background:var(--p);color:var(--pc)}
.head img{width:32px;height:32px;border-radius:16px;object-fit:cover;background:#fff;flex:none}
.title{flex:1;font-size:16px;font-weight:600;line-height:1.3;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.ib{display:flex;align-items:center;justify-content:center;flex:none;width:32px;height:32px;border-radius:8px}
.ib:hover{background:rgba(127,127,127,.22)}
.head :focus-visible{outline-color:currentColor}
.scroll{flex:1;overflow-y:auto;padding:14px;background:#f9fafb;overscroll-behavior:contain}
.log{display:flex;flex-direction:column;gap:10px}
.msg{display:flex;flex-direction:column;max-width:86%}
.msg.user{align-self:flex-end;align-items:flex-end}
.msg.bot{align-self:flex-start}
.bubble{padding:9px 12px;border-radius:14px;overflow-wrap:anywhere;word-break:break-word}
.user .bubble{background:var(--p);color:var(--pc);border-bottom-right-radius:4px;white-space:pre-wrap}
.bot .bubble{background:#fff;border:1px solid #e5e7eb;border-bottom-left-radius:4px}
.bubble>*+*{margin-top:6px}
.bubble p,.bubble li{display:block}
.bubble ul,.bubble ol{display:block;padding-inline-start:20px}
.bubble ul{list-style:disc outside}
.bubble ol{list-style:decimal outside}
.bubble li{display:list-item}
.bubble li+li{margin-top:2px}
.bubble pre{display:block;white-space:pre;overflow-x:auto;background:#f3f4f6;border-radius:6px;padding:6px 8px}
.bubble pre code{padding:0;background:none}
.tw{display:block;overflow-x:auto}
.tw table{border-collapse:collapse;font-size:13px}
.tw th,.tw td{border:1px solid #e5e7eb;padding:3px 6px;text-align:start;vertical-align:top}
.tw th{font-weight:700;background:#f9fafb}
strong{font-weight:700}
code,pre{direction:ltr;unicode-bidi:isolate}
pre,pre code{text-align:left}
code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px;background:#f3f4f6;border-radius:4px;padding:0 4px}
a{color:#1d4ed8;text-decoration:underline;cursor:pointer}
.ref{font-size:11px;vertical-align:super;line-height:0;text-decoration:none;margin-inline-start:1px}
.cites{display:flex;flex-direction:column;gap:3px;margin-top:6px;padding:0 4px;font-size:12px;line-height:1.35;color:#4b5563;list-style:none}
.cites li{display:block;overflow-wrap:anywhere;word-break:break-word}
.incomplete{font-size:12px;color:#9a3412;margin-top:4px}
.fb{display:flex;align-items:center;gap:2px;margin-top:4px;color:#6b7280;font-size:12px}
.fb button{display:flex;align-items:center;justify-content:center;width:28px;height:28px;border-radius:6px;color:#6b7280}
.fb button:hover{background:#eef0f3}
.fb button[aria-pressed=true]{color:#111827;background:#e5e7eb}
.fb span{margin-left:4px}
.typing{display:flex;gap:4px;width:max-content;margin-top:10px;padding:12px 14px;background:#fff;border:1px solid #e5e7eb;border-radius:14px}
.typing i{display:block;width:6px;height:6px;border-radius:3px;background:#9ca3af;animation:tb 1s infinite}
.typing i:nth-child(2){animation-delay:.15s}.typing i:nth-child(3){animation-delay:.3s}
@keyframes tb{0%,80%,100%{opacity:.3;transform:none}40%{opacity:1;transform:translateY(-3px)}}
.chips{display:flex;flex-wrap:wrap;gap:6px;margin-top:12px}
.chip{overflow-wrap:anywhere;padding:6px 12px;border:1px solid var(--p);border-radius:16px;background:#fff;color:#1f2937;font-size:13px;line-height:1.3;text-align:start}
.chip:hover{background:#f3f4f6}
.lead{display:flex;flex-direction:column;gap:8px;margin-top:12px;padding:12px;background:#fff;border:1px solid #e5e7eb;border-radius:12px}
.lead p,.err span,.incomplete{overflow-wrap:anywhere}
.lead p{font-size:13px;color:#374151}
.lead label{display:flex;flex-direction:column;gap:3px;font-size:12px;font-weight:600;color:#374151}
.lead .row{display:flex;gap:8px;justify-content:flex-end;align-items:center}
.lead .msgerr{color:#b91c1c;font-size:12px}
input,textarea{display:block;width:100%;padding:8px 10px;border:1px solid #d1d5db;border-radius:8px;background:#fff;color:#111827;font-size:14px;line-height:1.4;font-weight:400}
input:focus,textarea:focus{border-color:var(--p);outline:2px solid var(--p);outline-offset:-1px}
::placeholder{color:#9ca3af;opacity:1}
.btn{padding:8px 14px;border-radius:8px;background:var(--p);color:var(--pc);font-weight:600}
.btn2{padding:8px 10px;border-radius:8px;color:#4b5563;font-size:13px}
.err{display:flex;align-items:center;gap:8px;flex:none;padding:8px 14px;background:#fef2f2;border-top:1px solid #fecaca;color:#991b1b;font-size:13px}
.err span{flex:1}
.err button{font-weight:600;text-decoration:underline;font-size:13px;padding:2px 4px}
.compose{display:flex;align-items:flex-end;gap:8px;flex:none;padding:10px;border-top:1px solid #e5e7eb;background:#fff}
.compose textarea{resize:none;height:40px;min-height:40px;max-height:120px;overflow-y:auto;font-size:15px}
.send{display:flex;align-items:center;justify-content:center;flex:none;width:40px;height:40px;border-radius:10px;background:var(--p);color:var(--pc)}
.count{flex:none;padding:0 12px 6px;background:#fff;color:#4b5563;font-size:12px}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);clip-path:inset(50%);white-space:nowrap}
@media ${SMALL}{.root{bottom:calc(16px + env(safe-area-inset-bottom,0px));right:calc(16px + env(safe-area-inset-right,0px))}.root.left{left:calc(16px + env(safe-area-inset-left,0px))}
.panel{position:fixed;top:0;left:0;right:0;bottom:0;width:100%;height:100%;height:100dvh;max-height:none;border:0;border-radius:0;padding-bottom:env(safe-area-inset-bottom,0px)}
.head{padding:calc(12px + env(safe-area-inset-top,0px)) calc(10px + env(safe-area-inset-right,0px)) 12px calc(14px + env(safe-area-inset-left,0px))}
.scroll,.err{padding-left:calc(14px + env(safe-area-inset-left,0px));padding-right:calc(14px + env(safe-area-inset-right,0px))}
.compose{padding-left:calc(10px + env(safe-area-inset-left,0px));padding-right:calc(10px + env(safe-area-inset-right,0px))}
.count{padding-left:calc(12px + env(safe-area-inset-left,0px));padding-right:calc(12px + env(safe-area-inset-right,0px))}
.open .launcher{display:none}.compose textarea,input{font-size:16px}}
@media (prefers-reduced-motion:reduce){*{animation:none!important;transition:none!important}}
@media print{.root{display:none}}
`;

  const contrastText = (c) => {
    const m = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(c);
    if (!m) return "#fff";
    let x = m[1];
    if (x.length === 3) x = x.replace(/./g, "$&$&");
    const [r, g, b] = [0, 2, 4].map((i) => {
      const v = parseInt(x.substr(i, 2), 16) / 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.179 ? "#111827" : "#fff";
  };
  const validColor = (c) => !!c && !!(W.CSS && W.CSS.supports && W.CSS.supports("color", c));

