// Redaktionen: autosave, the live check and previews, reordering, the Markdown toolbar, the
// calendar and image drops. Every page works without this script (plain forms); it only
// saves sooner and shows the result in place.
"use strict";

const main = document.getElementById("main");
const csrf = main ? main.dataset.csrf : "";
const text = main ? JSON.parse(main.dataset.text || "{}") : {};  // the page's language
const live = document.querySelector("[data-live=variants]");

function post(url, body) {
  return fetch(url, {method: "POST", body, credentials: "same-origin",
                     headers: {"Accept": "application/json", "X-CSRF-Token": csrf}});
}

// --- previews: swap a variant's email in place, keeping where the reader had scrolled -----
async function reloadVariant(article) {
  const frames = [...article.querySelectorAll("iframe")];
  const response = await fetch(frames[0].src.split("?")[0], {credentials: "same-origin"});
  if (!response.ok) return;
  const html = await response.text();  // once for both widths
  const focused = document.activeElement;  // a keyboard user keeps their place
  for (const frame of frames) {
    const doc = frame.contentDocument;
    if (!doc) { frame.src = frame.src; continue; }
    const y = frame.contentWindow.scrollY;
    doc.open(); doc.write(html); doc.close();
    frame.contentWindow.scrollTo(0, y);
  }
  if (focused && document.activeElement !== focused) focused.focus({preventScroll: true});
}

function variantArticle(v) {
  const article = document.createElement("article");
  article.className = "variant";
  article.dataset.variant = v.name;
  article.innerHTML = "<h3></h3><div class=inbox-row><strong></strong> <span class=subject></span> " +
    "<span class=preheader></span></div><div class=frames></div>";
  article.querySelector("strong").textContent = v.sender;
  const src = `/nummer/${live.dataset.slug}/epost/${encodeURIComponent(v.name)}`;
  for (const [kind, title] of [["desktop", v.title_desktop], ["phone", v.title_phone]]) {
    const frame = document.createElement("iframe");
    frame.className = kind;
    frame.title = title;
    frame.src = src;
    frame.setAttribute("sandbox", "allow-same-origin allow-popups");
    article.querySelector(".frames").append(frame);
  }
  return article;
}

function onScreen(element) {
  const box = element.getBoundingClientRect();
  return box.bottom > 0 && box.top < window.innerHeight && box.right > 0 && box.left < window.innerWidth;
}

const offScreen = new IntersectionObserver(entries => {
  for (const entry of entries) {
    if (!entry.isIntersecting || !entry.target.dataset.stale) continue;
    delete entry.target.dataset.stale;
    offScreen.unobserve(entry.target);
    reloadVariant(entry.target);
  }
});

function escapeText(text) {
  const span = document.createElement("span");
  span.textContent = text;
  return span.innerHTML;
}

function showProblems(status) {
  const box = document.querySelector("[data-live=problems]");
  const file = document.querySelector("[data-live=lines]");
  const fileName = file ? file.dataset.file : null;
  const form = document.querySelector("form[data-file]");
  const bodyFrom = form ? bodyStart(form) : 0;
  const general = [], lines = [];
  for (const p of status.problems) {
    if (fileName && p.file === fileName && bodyFrom && p.line >= bodyFrom) lines.push(p);
    else general.push(p);
  }
  if (box) {
    box.innerHTML = general.length
      ? "<ul class=problems>" + general.map(p => `<li class=${p.severity}>${escapeText(p.text)}</li>`).join("") + "</ul>"
      : `<p class=ok>${escapeText(text.ok)}</p>`;
  }
  if (file) {
    file.innerHTML = lines.length
      ? "<ul class=problems>" + lines.map(p => {
          const line = p.line - bodyFrom + 1;
          return `<li class=${p.severity}><button type=button data-line=${line}>${escapeText(text.line.replace("0", line))}</button> ${escapeText(p.message)}</li>`;
        }).join("") + "</ul>"
      : "";
  }
}

// the file line where the body starts: the front matter the form will write, counted
function bodyStart(form) {
  return Number(form.dataset.bodyStart || 0);
}

async function showStatus(status) {
  // answers can cross (a save's and the watcher's): never show an older state over a newer
  if (live && Number(status.version) < Number(live.dataset.version)) return;
  if (live) live.dataset.version = status.version;
  showProblems(status);
  const approval = document.querySelector("[data-live=approval]");
  if (approval && status.approval) approval.textContent = status.approval;
  if (!live) return;
  // variants that came or went (a focus area ticked): added or removed here, never a reload
  // that would lose what the author is typing
  const names = new Set(status.variants.map(v => v.name));
  for (const article of live.querySelectorAll("[data-variant]")) {
    if (!names.has(article.dataset.variant)) article.remove();
  }
  const added = [];
  let previous = null;
  for (const [i, v] of status.variants.entries()) {
    let article = live.querySelector(`[data-variant="${CSS.escape(v.name)}"]`);
    if (!article) {
      article = variantArticle(v);
      added.push(v.name);
    }
    // in the order the server gives; moving a frame reloads it, so only when out of place
    const here = previous ? previous.nextElementSibling : live.querySelector("[data-variant]");
    if (article !== here) {
      if (previous) previous.after(article);
      else if (here) here.before(article);
      else live.append(article);
    }
    previous = article;
    article.querySelector("h3").textContent = v.label;
    article.querySelector(".subject").textContent = v.subject;
    article.querySelector(".preheader").textContent = v.preheader;
    article.querySelector("h3").id = `v-${i + 1}`;
    article.setAttribute("aria-labelledby", `v-${i + 1}`);
  }
  const changed = (status.changed || []).filter(name => !added.includes(name));
  // the variants on screen now; the others when they are scrolled to (no work unseen)
  await Promise.all(changed.flatMap(name => {
    const article = live.querySelector(`[data-variant="${CSS.escape(name)}"]`);
    if (!article) return [];
    if (onScreen(article)) return [reloadVariant(article)];
    article.dataset.stale = "1";
    offScreen.observe(article);
    return [];
  }));
  live.dataset.version = status.version;
  document.body.dataset.shown = status.version;  // tests and benchmarks wait on this
}

// --- autosave ------------------------------------------------------------------------------
// form.dataset.state: "dirty" (an edit waits), "saving", "saved" (every edit is on disk and
// shown), "error" or "conflict". A link is followed only after the edits are saved.
const flushes = [];
let leaving = false;  // a link was followed: save, but do not redraw what is about to go
for (const form of document.querySelectorAll("form[data-autosave]")) {
  const state = form.querySelector("[data-live=saved]");
  let timer = null, saving = Promise.resolve(), edits = 0;
  const save = () => {
    clearTimeout(timer);
    timer = null;
    const upTo = edits;
    saving = saving.then(async () => {
      form.dataset.state = "saving";
      state.textContent = text.saving;
      const data = new FormData(form);
      for (const article of live ? live.querySelectorAll("[data-variant]") : []) {
        if (onScreen(article)) data.append("visible", article.dataset.variant);  // rendered first
      }
      const response = await post(form.action, data);
      const body = await response.json();
      if (response.status === 409) {
        state.textContent = "";
        form.dataset.state = "conflict";
        showConflict(form, body);
        return;
      }
      if (body.base) form.querySelector("[name=base]").value = body.base;
      if (body.base && form.classList.contains("meta")) {  // issue.yaml: the list's too
        const list = document.querySelector("ol[data-reorder]");
        if (list) list.dataset.base = body.base;
        for (const input of document.querySelectorAll("form.move [name=base]")) input.value = body.base;
      }
      if (body.body_start) form.dataset.bodyStart = body.body_start;
      if (!leaving) await showStatus(body);  // the check and previews first: "Sparat." means all is shown
      state.textContent = body.error ? body.error : text.saved;
      if (edits === upTo && timer === null) form.dataset.state = body.error ? "error" : "saved";
    }).catch(() => { state.textContent = text.offline; form.dataset.state = "error"; });
    return saving;
  };
  const later = ms => {
    edits += 1;
    form.dataset.state = "dirty";
    clearTimeout(timer);
    timer = setTimeout(save, ms);
  };
  form.addEventListener("input", () => later(400));
  form.addEventListener("change", () => later(100));
  form.addEventListener("submit", event => { event.preventDefault(); edits += 1; save(); });
  flushes.push(() => {
    const pending = form.dataset.state === "dirty" || form.dataset.state === "saving";
    return pending ? (timer === null ? saving : save()) : null;
  });
}
const unsaved = () => flushes.map(flush => flush()).filter(Boolean);

document.addEventListener("click", async event => {
  const link = event.target.closest("a[href]");
  if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey ||
      event.shiftKey || event.altKey || link.target || link.origin !== location.origin) return;
  const pending = unsaved();
  if (!pending.length) return;
  event.preventDefault();  // the last words typed are saved before the page changes
  leaving = true;
  await Promise.allSettled(pending);
  location.assign(link.href);
});
window.addEventListener("beforeunload", event => {
  if (!flushes.length || !unsaved().length) return;
  event.preventDefault();  // closing the tab with an edit not yet saved: the browser asks
  event.returnValue = "";
});

function showConflict(form, body) {
  let box = form.querySelector(".conflict");
  if (!box) {
    box = document.createElement("div");
    box.className = "conflict notice error";
    box.setAttribute("role", "alert");
    form.prepend(box);
  }
  box.innerHTML = `<p>${escapeText(body.conflict)}</p><h3>${escapeText(text.theirs)}</h3><pre tabindex=0>${escapeText(body.theirs)}</pre>` +
    `<p><button type=button data-keep=mine>${escapeText(text.keep)}</button> <a href="${location.pathname}">${escapeText(text.drop)}</a></p>`;
  box.querySelector("[data-keep=mine]").addEventListener("click", () => {
    form.querySelector("[name=base]").value = body.theirs_base;
    box.remove();
    form.requestSubmit();
  });
}

// --- live counts ---------------------------------------------------------------------------
for (const input of document.querySelectorAll("[data-count]")) {
  const hint = document.querySelector(`[data-count-for="${input.id}"]`);
  const limit = Number(input.dataset.count);
  const update = () => {
    const n = input.value.length;
    const cut = n > limit ? ` ${text.phone} ”${input.value.slice(0, limit).trimEnd()}…”` : "";
    hint.textContent = text.count.replace("111111", n).replace("222222", limit) + cut;
  };
  input.addEventListener("input", update);
  update();
}

// --- the calendar sets the send date -------------------------------------------------------
for (const table of document.querySelectorAll("table.calendar")) {
  const input = document.getElementById(table.dataset.for);
  table.addEventListener("click", event => {
    const button = event.target.closest("button[data-date]");
    if (!button) return;
    input.value = button.dataset.date;
    for (const b of table.querySelectorAll("button[aria-pressed]")) b.removeAttribute("aria-pressed");
    button.setAttribute("aria-pressed", "true");
    input.dispatchEvent(new Event("change", {bubbles: true}));
  });
}

// --- sections: drag and drop, and Up/Down without a reload ---------------------------------
for (const list of document.querySelectorAll("ol[data-reorder]")) {
  const action = list.querySelector("form.move").action;
  let dragged = null;
  const send = async (focusName) => {
    const order = [...list.children].map(li => li.dataset.name).join(" ");
    const data = new FormData();
    data.set("order", order);
    data.set("base", list.dataset.base);
    const response = await post(action, data);
    const body = await response.json();
    if (response.status === 409) { window.location.reload(); return; }
    list.dataset.base = body.base;
    for (const input of document.querySelectorAll("input[name=base]")) {
      if (input.closest("form.move") || input.closest("form.meta")) input.value = body.base;
    }
    for (const [i, li] of [...list.children].entries()) {
      li.querySelector("[value=up]").disabled = i === 0;
      li.querySelector("[value=down]").disabled = i === list.children.length - 1;
    }
    await showStatus(body);  // then the focus: writing the previews must not take it away
    if (focusName) {
      const li = list.querySelector(`[data-name="${CSS.escape(focusName.name)}"]`);
      const button = li.querySelector(`[value=${focusName.direction}]`);
      (button.disabled ? li.querySelector("a") : button).focus();
    }
    list.dataset.saved = body.base;  // tests wait on it
  };
  list.addEventListener("click", event => {
    const button = event.target.closest("button[name=direction]");
    if (!button) return;
    event.preventDefault();
    const li = button.closest("li");
    const direction = button.value;
    if (direction === "up" && li.previousElementSibling) li.previousElementSibling.before(li);
    else if (direction === "down" && li.nextElementSibling) li.nextElementSibling.after(li);
    else return;
    send({name: li.dataset.name, direction});
  });
  list.addEventListener("dragstart", event => { dragged = event.target.closest("li"); });
  list.addEventListener("dragover", event => {
    event.preventDefault();
    const over = event.target.closest("li");
    if (!dragged || !over || over === dragged) return;
    const after = event.clientY > over.getBoundingClientRect().top + over.offsetHeight / 2;
    (after ? over.after(dragged) : over.before(dragged));
  });
  list.addEventListener("drop", event => { event.preventDefault(); if (dragged) send(null); dragged = null; });
}

// --- the Markdown toolbar ------------------------------------------------------------------
const snippets = {
  bold: t => `**${t || "fet text"}**`,
  link: t => `[${t || "länktext som säger vart länken leder"}](https://)`,
  list: t => (t || "punkt").split("\n").map(line => `- ${line}`).join("\n"),
  subheading: t => `\n### ${t || "Underrubrik"}\n`,
  table: () => "\n| Rubrik | Rubrik |\n|---|---|\n| text | text |\n",
};
for (const bar of document.querySelectorAll(".toolbar")) {
  const area = document.getElementById(bar.getAttribute("aria-controls"));
  bar.addEventListener("click", event => {
    const button = event.target.closest("button[data-md]");
    if (!button) return;
    const {selectionStart: start, selectionEnd: end, value} = area;
    const text = snippets[button.dataset.md](value.slice(start, end));
    area.setRangeText(text, start, end, "end");
    area.focus();
    area.dispatchEvent(new Event("input", {bubbles: true}));
  });
}

// --- "Rad N": to that line of the text -----------------------------------------------------
document.addEventListener("click", event => {
  const button = event.target.closest("button[data-line]");
  if (!button) return;
  const area = document.getElementById("body");
  const lines = area.value.split("\n");
  const n = Math.min(Number(button.dataset.line), lines.length) - 1;
  const start = lines.slice(0, n).join("\n").length + (n ? 1 : 0);
  area.focus();
  area.setSelectionRange(start, start + lines[n].length);
});

// --- images: drop a file on the upload form ------------------------------------------------
for (const form of document.querySelectorAll("form[data-upload]")) {
  const input = form.querySelector("input[type=file]");
  form.addEventListener("dragover", event => { event.preventDefault(); form.classList.add("dropping"); });
  form.addEventListener("dragleave", () => form.classList.remove("dropping"));
  form.addEventListener("drop", event => {
    event.preventDefault();
    form.classList.remove("dropping");
    if (event.dataTransfer.files.length) input.files = event.dataTransfer.files;
    form.querySelector("[name=image_alt]").focus();
  });
}

// --- changes made outside the studio (an editor, git): shown when they happen --------------
async function follow() {
  if (!live) return;
  for (;;) {
    try {
      const url = `/nummer/${live.dataset.slug}/status?since=${live.dataset.version}`;
      const response = await fetch(url, {credentials: "same-origin"});
      if (!response.ok) { await new Promise(r => setTimeout(r, 5000)); continue; }
      const status = await response.json();
      if (Number(status.version) > Number(live.dataset.version)) await showStatus(status);
    } catch (error) {
      await new Promise(r => setTimeout(r, 5000));
    }
  }
}
follow();
document.body.dataset.ready = "1";  // every handler is in place (tests wait on it)
