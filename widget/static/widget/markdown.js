  /* ---------- tiny, safe markdown: **bold**, `code`, ```fences```, lists, tables, [text](url), [n]
   * Links: the server keeps only those to cited sources and the site's own domains in a final
   * answer; text still streaming in has not been through that, so its links show as text. */
  const inline = (parent, text, cites, links) => {
    const re = /\*\*([^*\n]+?)\*\*|`([^`\n]+)`|\[([^\]\n]+)\]\(([^()\s]+)\)|\[(\d{1,3}(?:, ?\d{1,3})*)\]/g;
    let last = 0;
    let m;
    while ((m = re.exec(text))) {
      if (m.index > last) parent.appendChild(D.createTextNode(text.slice(last, m.index)));
      if (m[1] != null) parent.appendChild(h("strong", { text: m[1] }));
      else if (m[2] != null) parent.appendChild(h("code", { text: m[2] }));
      else if (m[3] != null) {
        const url = links && safeUrl(m[4]);
        parent.appendChild(
          url
            ? h("a", { href: url, target: "_blank", rel: "noopener noreferrer", text: m[3] })
            : D.createTextNode(m[3])
        );
      } else {
        // "[2]", or "[1, 3]" (the server's form for several sources): one link each
        for (const n of m[5].split(/, ?/)) {
          const c = cites.find((x) => String(x.n) === n);
          const url = c && safeUrl(c.url);
          parent.appendChild(
            h(url ? "a" : "span", {
              class: "ref",
              href: url,
              target: url && "_blank",
              rel: url && "noopener noreferrer",
              title: c ? str(c.title) : null,
              text: "[" + n + "]",
            })
          );
        }
      }
      last = re.lastIndex;
    }
    if (last < text.length) parent.appendChild(D.createTextNode(text.slice(last)));
  };
  // A fence opens only at a line's start, as on the server (prompts._CODE): what it holds is
  // code, shown as written, with no bold, links or citations in it; an unclosed fence (an answer
  // still streaming) runs to the end.
  const FENCE = /^[ \t]*```/;
  const TABLE_RULE = /^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$/;
  const cells = (line) =>
    line.trim().replace(/^\|/, "").replace(/\|$/, "").split("|").map((c) => c.trim());
  const table = (rows, cites, links) => {
    const row = (cellTag, line) =>
      h("tr", null, cells(line).map((c) => {
        const cell = h(cellTag);
        inline(cell, c, cites, links);
        return cell;
      }));
    return h("div", { class: "tw" }, [
      h("table", null, [
        h("thead", null, [row("th", rows[0])]),
        h("tbody", null, rows.slice(2).map((line) => row("td", line))),
      ]),
    ]);
  };
  const markdown = (text, cites, links) => {
    const frag = D.createDocumentFragment();
    let para = null;
    let list = null;
    let li = null;
    const lines = str(text).replace(/\r\n?/g, "\n").split("\n");
    for (let i = 0; i < lines.length; i++) {
      const raw = lines[i];
      const line = raw.replace(/\s+$/, "");
      if (FENCE.test(line)) {
        let end = i + 1;
        while (end < lines.length && !FENCE.test(lines[end])) end++;
        frag.appendChild(h("pre", null, [h("code", { text: lines.slice(i + 1, end).join("\n") })]));
        i = end;
        para = list = li = null;
        continue;
      }
      if (line.trim().startsWith("|") && i + 1 < lines.length && TABLE_RULE.test(lines[i + 1])) {
        let end = i + 2;
        while (end < lines.length && lines[end].trim().startsWith("|")) end++;
        frag.appendChild(table(lines.slice(i, end), cites, links));
        i = end - 1;
        para = list = li = null;
        continue;
      }
      if (!line.trim()) {
        para = list = li = null;
        continue;
      }
      const bullet = /^\s*[-*\u2022]\s+(.*)$/.exec(line);
      const num = !bullet && /^\s*(\d{1,3})[.)]\s+(.*)$/.exec(line);
      if (bullet || num) {
        const type = bullet ? "ul" : "ol";
        if (!list || list.tagName.toLowerCase() !== type) {
          list = h(type, num && num[1] !== "1" ? { start: num[1] } : null);
          frag.appendChild(list);
        }
        li = h("li");
        inline(li, bullet ? bullet[1] : num[2], cites, links);
        list.appendChild(li);
        para = null;
        continue;
      }
      if (li && /^\s{2,}/.test(raw)) {
        li.appendChild(D.createTextNode(" "));
        inline(li, line.trim(), cites, links);
        continue;
      }
      list = li = null;
      const heading = /^#{1,6}\s+(.*)$/.exec(line);
      if (heading) {
        const p = h("p");
        const s = h("strong");
        inline(s, heading[1], cites, links);
        p.appendChild(s);
        frag.appendChild(p);
        para = null;
        continue;
      }
      if (para) para.appendChild(h("br"));
      else frag.appendChild((para = h("p")));
      inline(para, line, cites, links);
    }
    return frag;
  };

