/* vidserve studio: a small single-page app over the public /v1 Videos API.
 *
 * No framework and no build step. Everything the server knows is fetched with the key the user
 * typed (kept in localStorage, sent only to this origin); a server in dev mode (no key
 * configured, loopback only) takes any key, so the studio then goes straight to the gallery.
 * The helpers that OpenAI's API has no room for live under /vidserve/: whether the server is
 * in dev mode, the served models with what each can do (the forms offer exactly that; no
 * endpoint is ever probed), and short-lived signed content URLs so that <video> can stream
 * and seek with Range requests (a media element cannot send an Authorization header).
 */
"use strict";

const KEY_STORAGE = "vidserve.apiKey";
const VOLUME_STORAGE = "vidserve.volume";
const MUTED_STORAGE = "vidserve.muted";
const DEV_KEY = "dev"; // any key works in dev mode; this one is sent when none was typed
const SPRITE_COLUMNS = 5;
const SPRITE_ROWS = 5;
const SPRITE_FRAMES = SPRITE_COLUMNS * SPRITE_ROWS;
const ACTIVE = new Set(["queued", "in_progress"]);

const $ = (selector, root = document) => root.querySelector(selector);

/* ---------------------------------------------------------------- API client */

class ApiError extends Error {
  constructor(status, error, requestId, method, path) {
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.error = error;
    this.requestId = requestId;
    this.method = method;
    this.path = path;
  }
}

/* What the server says about itself before any key is known: dev mode and readiness
   (GET /vidserve/server, always a 200; null when it cannot be reached). */
const server = {
  devMode: false,
  async load() {
    try {
      const resp = await fetch("/vidserve/server", { cache: "no-store" });
      if (!resp.ok) return null;
      const body = await resp.json();
      this.devMode = Boolean(body.dev_mode);
      return body;
    } catch (_) {
      return null; // unreachable: the status dot says so; the key page stays the way in
    }
  },
};

const api = {
  savedKey() {
    return localStorage.getItem(KEY_STORAGE) || "";
  },
  key() {
    return this.savedKey() || (server.devMode ? DEV_KEY : "");
  },

  async request(method, path, { json, form, signal } = {}) {
    const headers = { Authorization: `Bearer ${this.key()}` };
    let body;
    if (json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(json);
    } else if (form !== undefined) {
      body = form; // the browser sets the multipart boundary
    }
    let resp;
    try {
      resp = await fetch(path, { method, headers, body, signal, cache: "no-store" });
    } catch (err) {
      if (err.name === "AbortError") throw err;
      throw new ApiError(0, {
        message: `Cannot reach the server (${err.message}). Is vidserve still running?`,
        type: "network_error",
      }, null, method, path);
    }
    if (!resp.ok) {
      let error = { message: `HTTP ${resp.status} ${resp.statusText}` };
      try {
        const payload = await resp.json();
        if (payload && payload.error) error = payload.error;
      } catch (_) { /* not JSON */ }
      if (resp.status === 429) {
        const after = resp.headers.get("retry-after");
        if (after) error.message += ` Try again in ${after} s.`;
      }
      throw new ApiError(resp.status, error, resp.headers.get("x-request-id"), method, path);
    }
    return resp;
  },

  async json(method, path, options) {
    const resp = await this.request(method, path, options);
    return { data: await resp.json(), headers: resp.headers };
  },

  async blobUrl(path, signal) {
    const resp = await this.request("GET", path, { signal });
    return URL.createObjectURL(await resp.blob());
  },
};

/* ---------------------------------------------------------------- messages */

function showError(err, context) {
  if (err && err.name === "AbortError") return;
  const banner = $("#banner");
  const title = $("#banner-title");
  const message = $("#banner-message");
  const detail = $("#banner-detail");
  if (err instanceof ApiError) {
    const e = err.error || {};
    title.textContent = (context ? context + ": " : "") +
      (err.status ? `${err.status} ${statusWord(err.status)}` : "network error");
    message.textContent = e.message || "";
    const parts = [];
    if (e.type) parts.push(`type ${e.type}`);
    if (e.code) parts.push(`code ${e.code}`);
    if (e.param) parts.push(`param ${e.param}`);
    if (err.requestId) parts.push(`request ${err.requestId}`);
    parts.push(`${err.method} ${err.path}`);
    detail.textContent = parts.join(" · ");
    if (err.status === 401 && location.hash !== "#/key") {
      message.textContent += " Enter a valid key with the “API key” button.";
    }
  } else {
    title.textContent = context || "Error";
    message.textContent = String(err && err.message ? err.message : err);
    detail.textContent = "";
  }
  banner.dataset.status = err instanceof ApiError ? String(err.status) : "";
  banner.hidden = false;
  console.warn(context, err);
}

function clearError() {
  $("#banner").hidden = true;
}

function statusWord(status) {
  return {
    400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found",
    405: "Method not allowed", 409: "Conflict", 413: "Too large", 415: "Unsupported media type",
    429: "Too many requests", 500: "Server error", 502: "Bad gateway",
    503: "Unavailable", 504: "Gateway timeout",
  }[status] || "Error";
}

/* ---------------------------------------------------------------- formatting */

function ago(unixSeconds) {
  if (!unixSeconds) return "";
  const s = Math.max(0, Math.round(Date.now() / 1000 - unixSeconds));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(unixSeconds * 1000).toLocaleDateString();
}

function when(unixSeconds) {
  return unixSeconds ? new Date(unixSeconds * 1000).toLocaleString() : "—";
}

function duration(seconds) {
  seconds = Math.max(0, Math.round(seconds));
  if (seconds < 60) return `${seconds} s`;
  return `${Math.floor(seconds / 60)} min ${String(seconds % 60).padStart(2, "0")} s`;
}

function statusLabel(video) {
  return { queued: "queued", in_progress: "generating", completed: "ready", failed: "failed" }[
    video.status] || video.status;
}

function aspect(size) {
  const [w, h] = String(size).split("x").map(Number);
  return w > 0 && h > 0 ? { w, h } : { w: 16, h: 9 };
}

/* ---------------------------------------------------------------- polling */

/** Follows one video until it is completed or failed, as often as openai-poll-after-ms says. */
class Poller {
  constructor(id, onUpdate, signal) {
    this.id = id;
    this.onUpdate = onUpdate;
    this.signal = signal;
    this.eta = new Eta();
    signal.addEventListener("abort", () => clearTimeout(this.timer), { once: true });
  }

  start(delayMs = 0) {
    this.schedule(delayMs);
  }

  schedule(ms) {
    if (this.signal.aborted) return;
    this.timer = setTimeout(() => this.tick(), ms);
  }

  async tick() {
    try {
      const { data, headers } = await api.json("GET", `/v1/videos/${this.id}`, { signal: this.signal });
      const eta = this.eta.update(data);
      this.onUpdate(data, eta);
      if (ACTIVE.has(data.status)) {
        const after = Number(headers.get("openai-poll-after-ms")) || 1000;
        this.schedule(Math.max(100, after));
      }
    } catch (err) {
      if (err.name === "AbortError") return;
      showError(err, "Checking progress");
      if (!(err instanceof ApiError) || err.status === 0 || err.status >= 500 || err.status === 429) {
        this.schedule(3000); // transient: keep following
      }
    }
  }
}

/** Time left, from the progress made since the job started running. */
class Eta {
  constructor() {
    this.samples = [];
  }
  update(video) {
    if (video.status !== "in_progress") return null;
    const now = performance.now() / 1000;
    this.samples.push([now, video.progress]);
    this.samples = this.samples.slice(-20);
    const [t0, p0] = this.samples[0];
    if (video.progress <= p0 || now <= t0) return null;
    const rate = (video.progress - p0) / (now - t0);
    return rate > 0 ? (100 - video.progress) / rate : null;
  }
}

/* ---------------------------------------------------------------- media */

const media = {
  thumbs: new Map(),   // video id -> Promise<blob URL | null>
  sprites: new Map(),
  queue: [],
  running: 0,

  /* at most 4 image downloads at once, so a long gallery does not flood the server */
  limited(task) {
    return new Promise((resolve) => {
      this.queue.push(async () => {
        try { resolve(await task()); } finally {
          this.running -= 1;
          this.next();
        }
      });
      this.next();
    });
  },
  next() {
    while (this.running < 4 && this.queue.length) {
      this.running += 1;
      this.queue.shift()();
    }
  },
  variant(cache, id, variant) {
    if (!cache.has(id)) {
      cache.set(id, this.limited(() =>
        api.blobUrl(`/v1/videos/${id}/content?variant=${variant}`).catch(() => {
          cache.delete(id);
          return null;
        })));
    }
    return cache.get(id);
  },
  thumbnail(id) { return this.variant(this.thumbs, id, "thumbnail"); },
  spritesheet(id) { return this.variant(this.sprites, id, "spritesheet"); },
  forget(id) {
    for (const cache of [this.thumbs, this.sprites]) {
      const p = cache.get(id);
      if (p) p.then((url) => url && URL.revokeObjectURL(url));
      cache.delete(id);
    }
  },
  async signedUrl(id, variant = "video") {
    const { data } = await api.json(
      "GET", `/vidserve/videos/${id}/content_url?variant=${variant}`);
    return data.url;
  },
};

/* ---------------------------------------------------------------- features */

/* The served models and what each can do (GET /vidserve/models), fetched once per key. */
const features = {
  models: null,

  async loadModels() {
    if (!this.models) {
      this.models = api.json("GET", "/vidserve/models").then(({ data }) => data.data);
      this.models.catch(() => { this.models = null; }); // try again next time
    }
    return this.models;
  },

  async model(id) {
    return (await this.loadModels()).find((m) => m.id === id) || null;
  },
};

/* ---------------------------------------------------------------- sound */

/* The player's volume and mute, remembered in this browser across videos and visits. */
const sound = {
  volume() {
    const v = Number(localStorage.getItem(VOLUME_STORAGE));
    return localStorage.getItem(VOLUME_STORAGE) !== null && v >= 0 && v <= 1 ? v : 1;
  },
  muted() {
    return localStorage.getItem(MUTED_STORAGE) === "true";
  },
  attach(player, toggle) {
    player.volume = this.volume();
    player.muted = this.muted();
    const show = () => {
      toggle.textContent = player.muted || player.volume === 0 ? "🔇 Sound off" : "🔊 Sound on";
      toggle.setAttribute("aria-pressed", String(!player.muted));
      toggle.dataset.muted = String(player.muted);
    };
    const remember = () => {
      localStorage.setItem(VOLUME_STORAGE, String(player.volume));
      localStorage.setItem(MUTED_STORAGE, String(player.muted));
      show();
    };
    // the player's own controls change it through "volumechange" (dispatched later, as a task);
    // the toggle remembers at once, so a page opened right after the click already sees it
    player.addEventListener("volumechange", remember);
    toggle.addEventListener("click", () => {
      player.muted = !player.muted;
      if (!player.muted && player.volume === 0) player.volume = 1;
      remember();
    });
    show();
  },
};

/* ---------------------------------------------------------------- pages */

let pageAbort = new AbortController();

function mount(templateId) {
  const view = $("#view");
  view.replaceChildren($(`#${templateId}`).content.cloneNode(true));
  return view;
}

function setNav(name) {
  document.querySelectorAll("[data-nav]").forEach((a) => {
    a.classList.toggle("active", a.dataset.nav === name);
  });
}

async function route() {
  pageAbort.abort();
  pageAbort = new AbortController();
  const signal = pageAbort.signal;
  const hash = location.hash || "#/";
  window.scrollTo(0, 0);
  if (!api.key() && hash !== "#/key") { // dev mode has a key: any one works
    location.hash = "#/key";
    return;
  }
  let match;
  if (hash === "#/key") {
    setNav("");
    keyPage();
  } else if (hash === "#/" || hash === "#") {
    setNav("gallery");
    await galleryPage(signal);
  } else if (hash === "#/new") {
    setNav("new");
    await createPage(signal);
  } else if ((match = /^#\/v\/([A-Za-z0-9_]+)$/.exec(hash))) {
    setNav("");
    await videoPage(match[1], signal);
  } else {
    setNav("");
    mount("page-missing");
  }
}

/* ---- key */

function keyPage() {
  const view = mount("page-key");
  const input = $("#key-input", view);
  input.value = api.savedKey();
  $("#key-dev", view).hidden = !server.devMode;
  input.focus();
  $("#key-forget", view).addEventListener("click", () => {
    localStorage.removeItem(KEY_STORAGE);
    input.value = "";
    updateKeyButton();
  });
  $("#key-form", view).addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (!key) return;
    const previous = api.savedKey();
    localStorage.setItem(KEY_STORAGE, key);
    try {
      await api.request("GET", "/v1/videos?limit=1");
      clearError();
      features.models = null;
      updateKeyButton();
      location.hash = "#/";
    } catch (err) {
      if (previous) localStorage.setItem(KEY_STORAGE, previous);
      else localStorage.removeItem(KEY_STORAGE);
      showError(err, "This key does not work");
    }
  });
}

function updateKeyButton() {
  const key = api.savedKey();
  const button = $("#key-button");
  button.textContent = key ? `Key …${key.slice(-4)}` : server.devMode ? "Dev mode" : "API key";
  button.title = !key && server.devMode
    ? "This server has no API key configured (dev mode): any key works." : "";
}

/* ---- gallery */

async function galleryPage(signal) {
  const view = mount("page-gallery");
  const grid = $("#gallery", view);
  const more = $("#more", view);
  let after = null;

  async function loadPage() {
    more.disabled = true;
    try {
      const query = after ? `?limit=24&after=${after}` : "?limit=24";
      const { data } = await api.json("GET", `/v1/videos${query}`, { signal });
      for (const video of data.data) grid.append(card(video, signal));
      after = data.last_id;
      more.hidden = !data.has_more;
      $("#gallery-empty", view).hidden = grid.children.length > 0;
    } catch (err) {
      showError(err, "Loading your videos");
    } finally {
      more.disabled = false;
    }
  }
  more.addEventListener("click", loadPage);
  await loadPage();
}

function card(video, signal) {
  const node = $("#card").content.firstElementChild.cloneNode(true);
  node.dataset.id = video.id;
  $(".card-link", node).href = `#/v/${video.id}`;
  $(".prompt", node).textContent = video.prompt;
  $(".prompt", node).title = video.prompt;
  const { w, h } = aspect(video.size);
  const scrub = $(".scrub", node);
  scrub.style.aspectRatio = `${w} / ${h}`;
  if (w >= h) scrub.style.width = "100%"; else scrub.style.height = "100%";
  render(video, null);
  if (ACTIVE.has(video.status)) {
    new Poller(video.id, (v, eta) => render(v, eta), signal).start(300);
  }
  attachScrub(node, video);
  return node;

  function render(v, eta) {
    video = v;
    node.dataset.status = v.status;
    const chip = $(".chip", node);
    chip.textContent = ACTIVE.has(v.status) ? `${statusLabel(v)} ${v.progress} %` : statusLabel(v);
    chip.className = `chip status ${v.status}`;
    const bar = $(".progress", node);
    bar.hidden = !ACTIVE.has(v.status);
    $(".progress span", node).style.width = `${v.progress}%`;
    const bits = [v.model, v.size, `${v.seconds} s`];
    if (ACTIVE.has(v.status) && eta != null) bits.push(`about ${duration(eta)} left`);
    else bits.push(ago(v.created_at));
    $(".meta", node).textContent = bits.join(" · ");
    const placeholder = $(".placeholder", node);
    if (v.status === "completed") {
      placeholder.textContent = "";
      media.thumbnail(v.id).then((url) => {
        const img = $(".thumb-img", node);
        if (url) { img.src = url; img.alt = `thumbnail of ${v.prompt.slice(0, 80)}`; }
        else placeholder.textContent = v.expires_at && v.expires_at * 1000 < Date.now()
          ? "expired" : "no preview";
      });
    } else {
      placeholder.textContent = v.status === "failed" ? "✕" : "…";
    }
  }
}

/* Hovering a finished video scrubs through its spritesheet: 25 evenly spaced frames on a
   5 x 5 grid, picked by the pointer's horizontal position. */
function attachScrub(node, initial) {
  const thumb = $(".thumb", node);
  const scrub = $(".scrub", node);
  const bar = $(".scrub-bar", node);
  let sheet = null;
  thumb.addEventListener("pointerenter", async () => {
    if (node.dataset.status !== "completed") return;
    if (!sheet) {
      sheet = await media.spritesheet(initial.id);
      if (!sheet) return;
      scrub.style.backgroundImage = `url("${sheet}")`;
      scrub.style.backgroundSize = `${SPRITE_COLUMNS * 100}% ${SPRITE_ROWS * 100}%`;
    }
    if (thumb.matches(":hover")) { scrub.hidden = false; bar.hidden = false; }
  });
  thumb.addEventListener("pointermove", (event) => {
    if (!sheet) return;
    const rect = thumb.getBoundingClientRect();
    const fraction = Math.min(0.9999, Math.max(0, (event.clientX - rect.left) / rect.width));
    const frame = Math.floor(fraction * SPRITE_FRAMES);
    const col = frame % SPRITE_COLUMNS;
    const row = Math.floor(frame / SPRITE_COLUMNS);
    scrub.style.backgroundPosition =
      `${(col * 100) / (SPRITE_COLUMNS - 1)}% ${(row * 100) / (SPRITE_ROWS - 1)}%`;
    scrub.dataset.frame = String(frame);
    scrub.hidden = false;
    bar.hidden = false;
    $("span", bar).style.width = `${((frame + 1) * 100) / SPRITE_FRAMES}%`;
  });
  thumb.addEventListener("pointerleave", () => {
    scrub.hidden = true;
    bar.hidden = true;
  });
}

/* ---- create */

async function createPage(signal) {
  const view = mount("page-new");
  const form = $("#create-form", view);
  const model = $("#model", view);
  const size = $("#size", view);
  const seconds = $("#seconds", view);
  const file = $("#reference", view);
  const preview = $("#reference-preview", view);
  const clear = $("#reference-clear", view);
  const submit = $("#create-submit", view);
  const cast = [];  // characters chosen for this video: {id, name}
  let models = [];
  try {
    models = await features.loadModels();
  } catch (err) {
    showError(err, "Loading the served models");
    return;
  }
  if (signal.aborted) return;
  for (const m of models) {
    const option = new Option(m.id === m.target ? m.id : `${m.id} → ${m.target}`, m.id);
    option.disabled = !m.available;
    model.append(option);
  }
  const preferred = models.find((m) => m.id === "sora-2" && m.available) ||
    models.find((m) => m.available);
  if (preferred) model.value = preferred.id;

  function fill(select, values, label) {
    const keep = select.value;
    select.replaceChildren(...values.map((v) => new Option(label(v), v)));
    if (values.includes(keep)) select.value = keep;
  }
  function onModel() {
    const m = models.find((x) => x.id === model.value);
    if (!m) return;
    fill(size, m.sizes, (s) => {
      const { w, h } = aspect(s);
      return `${s} (${w > h ? "landscape" : w < h ? "portrait" : "square"})`;
    });
    fill(seconds, m.seconds, (s) => `${s} s`);
    const notes = [];
    notes.push(m.description ? `${m.target}: ${m.description}` : `${m.target} (${m.backend})`);
    if (!m.text_to_video) notes.push("needs an image reference");
    notes.push(m.audio ? "makes sound" : "silent (the file's sound track is silence)");
    if (!m.available && m.problem) notes.push(`unavailable: ${m.problem}`);
    $("#model-note", view).textContent = notes.join(" · ");
    file.disabled = !m.image_reference;
    file.required = m.image_reference && !m.text_to_video;
    if (file.disabled) file.value = "";
    onReference();
    onCharacters();
  }
  /* characters: offered where the model takes them (its characters_by says how) */
  function onCharacters() {
    const m = models.find((x) => x.id === model.value);
    const able = Boolean(m && m.characters);
    const box = $("#characters", view);
    box.classList.toggle("unavailable", !able);
    for (const el of box.querySelectorAll("input, button")) el.disabled = !able;
    $("#character-add", view).disabled = !able || cast.length >= 2;
    const how = m && m.details && m.details.characters_by;
    $("#character-note", view).textContent = !able
      ? `${model.value} cannot take characters.`
      : (how ? `${model.value}: ${how}.` : "The characters appear in the clip.");
    $("#character-list", view).replaceChildren(...cast.map((c, i) => {
      const item = document.createElement("li");
      item.textContent = `${c.name} `;
      item.dataset.id = c.id;
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "ghost small";
      remove.textContent = "Remove";
      remove.addEventListener("click", () => { cast.splice(i, 1); onCharacters(); });
      item.append(remove);
      return item;
    }));
  }
  $("#character-add", view).addEventListener("click", async () => {
    const name = $("#character-name", view).value.trim();
    const clip = $("#character-clip", view).files[0];
    if (!name || !clip) {
      showError(new Error("Give the character a name and a short clip of it."), "Character");
      return;
    }
    const body = new FormData();
    body.append("name", name);
    body.append("video", clip, clip.name);
    $("#character-add", view).disabled = true;
    try {
      const { data } = await api.json("POST", "/v1/videos/characters", { form: body });
      clearError();
      cast.push({ id: data.id, name: data.name });
      $("#character-name", view).value = "";
      $("#character-clip", view).value = "";
    } catch (err) {
      showError(err, "The server refused this character");
    } finally {
      onCharacters();
    }
  });
  function onReference() {
    const note = $("#reference-note", view);
    const chosen = file.files && file.files[0];
    clear.hidden = !chosen;
    if (preview.src) URL.revokeObjectURL(preview.src);
    preview.hidden = !chosen;
    if (chosen) preview.src = URL.createObjectURL(chosen);
    else preview.removeAttribute("src");
    if (file.disabled) note.textContent = "This model does not take an image reference.";
    else note.textContent = `${file.required ? "Required by this model. " : ""}PNG, JPEG or
      WebP. It becomes the first frame; the server may require it to be exactly
      ${size.value.replace("x", " × ")} pixels.`;
  }
  model.addEventListener("change", onModel);
  size.addEventListener("change", onReference);
  file.addEventListener("change", onReference);
  clear.addEventListener("click", () => { file.value = ""; onReference(); });
  onModel();

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const prompt = $("#prompt", view).value.trim();
    if (!prompt) {
      showError(new Error("Write a prompt: it says what the video shows."), "Missing prompt");
      $("#prompt", view).focus();
      return;
    }
    if (file.required && !(file.files && file.files[0])) {
      showError(new Error(`${model.value} makes videos from an image: choose one.`),
        "Missing image reference");
      return;
    }
    const body = new FormData();
    body.append("prompt", prompt);
    body.append("model", model.value);
    body.append("size", size.value);
    body.append("seconds", seconds.value);
    if (!file.disabled && file.files && file.files[0]) {
      body.append("input_reference", file.files[0], file.files[0].name);
    }
    const chosen = models.find((x) => x.id === model.value);
    if (chosen && chosen.characters) {
      for (const c of cast) body.append("characters[][id]", c.id);
    }
    submit.disabled = true;
    $("#create-state", view).textContent = "Sending…";
    try {
      const { data } = await api.json("POST", "/v1/videos", { form: body });
      clearError();
      location.hash = `#/v/${data.id}`;
    } catch (err) {
      showError(err, "The server refused this video");
    } finally {
      submit.disabled = false;
      $("#create-state", view).textContent = "";
    }
  });
}

/* ---- one video */

async function videoPage(id, signal) {
  const view = mount("page-video");
  const player = $("#player", view);
  let video;
  try {
    ({ data: video } = await api.json("GET", `/v1/videos/${id}`, { signal }));
  } catch (err) {
    if (err.name === "AbortError") return;
    showError(err, "Opening this video");
    view.querySelector(".side").hidden = true;
    $("#player-box", view).hidden = true;
    const note = $("#prompt-text", view);
    note.textContent = "This video could not be loaded. ";
    const back = document.createElement("a");
    back.href = "#/";
    back.textContent = "Back to the gallery.";
    note.append(back);
    return;
  }
  let shownStatus = null;
  const started = performance.now();
  sound.attach(player, $("#sound-toggle", view));

  function details(v) {
    const rows = [
      ["Status", statusLabel(v)],
      ["Model", v.model],
      ["Size", v.size],
      ["Length", `${v.seconds} s`],
      ["Created", when(v.created_at)],
      ["Completed", when(v.completed_at)],
      ["Expires", v.expires_at ? when(v.expires_at) : v.status === "completed" ? "never" : "—"],
      ["Id", v.id],
    ];
    const dl = $("#details", view);
    dl.replaceChildren();
    for (const [k, value] of rows) {
      const dt = document.createElement("dt");
      dt.textContent = k;
      const dd = document.createElement("dd");
      dd.textContent = value;
      if (k === "Id") dd.className = "mono";
      dl.append(dt, dd);
    }
    if (v.remixed_from_video_id) {
      const dt = document.createElement("dt");
      dt.textContent = "Remix of";
      const dd = document.createElement("dd");
      const a = document.createElement("a");
      a.href = `#/v/${v.remixed_from_video_id}`;
      a.textContent = v.remixed_from_video_id.slice(0, 18) + "…";
      a.id = "remixed-from";
      dd.append(a);
      dl.append(dt, dd);
    }
  }

  async function show(v, eta) {
    video = v;
    view.querySelector(".video-page").dataset.status = v.status;
    $("#prompt-text", view).textContent = v.prompt;
    details(v);
    const active = ACTIVE.has(v.status);
    $("#live", view).hidden = !active;
    $("#failed", view).hidden = v.status !== "failed";
    for (const f of ["#remix-form", "#edit-form", "#extend-form"]) {
      $(`${f} button[type=submit]`, view).dataset.ready = String(v.status === "completed");
    }
    refreshTools();
    if (active) {
      $("#live-percent", view).textContent = `${v.progress} %`;
      $("#live-bar", view).style.width = `${v.progress}%`;
      $("#live-progress", view).setAttribute("aria-valuenow", String(v.progress));
      const elapsed = (performance.now() - started) / 1000;
      const bits = [v.status === "queued" ? "Waiting for a worker" : "Generating"];
      bits.push(`${duration(elapsed)} so far`);
      if (eta != null) bits.push(`about ${duration(eta)} left`);
      $("#live-status", view).textContent = bits.join(" · ");
    }
    if (v.status === "failed") {
      const e = v.error || {};
      $("#failed-message", view).textContent = e.message || "No reason was given.";
      $("#failed-code", view).textContent = e.code || "";
    }
    if (v.status === "completed" && shownStatus !== "completed") {
      $("#live-percent", view).textContent = "100 %";
      $("#live-bar", view).style.width = "100%";
      await loadPlayer(v);
    }
    shownStatus = v.status;
  }

  async function loadPlayer(v) {
    try {
      const url = await media.signedUrl(v.id, "video");
      if (signal.aborted) return;
      media.thumbnail(v.id).then((poster) => { if (poster && !signal.aborted) player.poster = poster; });
      player.src = url;
      player.hidden = false;
      $("#player-tools", view).hidden = false;
      const download = $("#download", view);
      download.href = url;
      download.download = `${v.id}.mp4`;
      download.hidden = false;
      player.addEventListener("error", async () => {
        // an expired signed URL (a long pause): ask for a fresh one and carry on
        if (signal.aborted) return;
        const at = player.currentTime;
        try {
          player.src = await media.signedUrl(v.id, "video");
          player.currentTime = at;
        } catch (err) {
          showError(err, "Playing this video");
        }
      }, { once: true });
    } catch (err) {
      showError(err, "Playing this video");
    }
  }

  /* remix / edit / extend: offered as the model's capabilities say (GET /vidserve/models) */
  async function refreshTools() {
    const done = video.status === "completed";
    let model = null;
    try {
      model = await features.model(video.model);
    } catch (_) { /* the listing is a nicety: the server still checks every request */ }
    if (signal.aborted) return;
    const can = (flag) => !model || model[flag] !== false;
    $("#engine-note", view).textContent = model && model.description
      ? `Made by ${model.target}: ${model.description}.` : "";
    $("#sound-note", view).textContent = model && !model.audio
      ? `${model.target} makes no sound: the track is silent.` : "";
    $("#remix-submit", view).disabled = !done || !can("remix");
    if (!can("remix")) $("#remix-form .hint", view).textContent = `${video.model} cannot remix videos.`;
    for (const [form, note, what, flag] of [
      ["#edit-form", "#edit-note", "Editing", "edit"],
      ["#extend-form", "#extend-note", "Extending", "extend"],
    ]) {
      const f = $(form, view);
      f.classList.toggle("unavailable", !can(flag));
      $("button[type=submit]", f).disabled = !can(flag) || !done;
      const how = model && model.details && model.details[`${flag}_by`];
      if (!can(flag)) $(note, view).textContent = `${what} is not available for ${video.model}.`;
      else if (how) $(note, view).textContent = `${video.model}: ${how}.`;
    }
    if (model && can("extend")) extensionLengths(model);
    view.querySelector(".video-page").dataset.tools = "ready";
  }

  /* The lengths an extension may add (the API's 4 to 20 s), less those that would make the
     video longer than the server allows. */
  function extensionLengths(model) {
    const select = $("#extend-seconds", view);
    const keep = select.value;
    const room = model.max_extended_seconds - Number(video.seconds);
    select.replaceChildren(...model.extension_seconds.map((s) => {
      const option = new Option(s, s);
      option.disabled = Number(s) > room;
      if (option.disabled) option.title = `at most ${model.max_extended_seconds} s in all`;
      return option;
    }));
    const open = [...select.options].filter((o) => !o.disabled);
    if (open.some((o) => o.value === keep)) select.value = keep;
    else if (open.length) select.value = open[0].value;
    if (!open.length) {
      $("#extend-submit", view).disabled = true;
      $("#extend-note", view).textContent =
        `This video is already as long as an extended video may be (${model.max_extended_seconds} s).`;
    }
  }

  async function derive(form, endpoint, body, context) {
    const button = $("button[type=submit]", form);
    button.disabled = true;
    try {
      const { data } = await api.json("POST", endpoint, { json: body });
      clearError();
      location.hash = `#/v/${data.id}`;
    } catch (err) {
      showError(err, `${context} was refused`);
      button.disabled = false;
    }
  }

  $("#remix-form", view).addEventListener("submit", (event) => {
    event.preventDefault();
    const prompt = $("#remix-prompt", view).value.trim();
    if (!prompt) return;
    derive(event.target, `/v1/videos/${video.id}/remix`, { prompt }, "Remix");
  });
  $("#edit-form", view).addEventListener("submit", (event) => {
    event.preventDefault();
    const prompt = $("#edit-prompt", view).value.trim();
    if (!prompt) return;
    derive(event.target, "/v1/videos/edits", { prompt, video: { id: video.id } }, "Editing");
  });
  $("#extend-form", view).addEventListener("submit", (event) => {
    event.preventDefault();
    const prompt = $("#extend-prompt", view).value.trim();
    if (!prompt) return;
    derive(event.target, "/v1/videos/extensions", {
      prompt, video: { id: video.id }, seconds: $("#extend-seconds", view).value,
    }, "Extending");
  });

  /* copy, delete */
  $("#copy-id", view).addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(video.id);
      $("#copy-id", view).textContent = "Copied";
    } catch (_) {
      window.prompt("The video id:", video.id);
    }
  });
  $("#delete", view).addEventListener("click", () => {
    $("#confirm-delete", view).hidden = false;
    $("#confirm-no", view).focus();
  });
  $("#confirm-no", view).addEventListener("click", () => {
    $("#confirm-delete", view).hidden = true;
  });
  $("#confirm-yes", view).addEventListener("click", async () => {
    $("#confirm-yes", view).disabled = true;
    try {
      await api.request("DELETE", `/v1/videos/${video.id}`);
      media.forget(video.id);
      player.removeAttribute("src");
      clearError();
      location.hash = "#/";
    } catch (err) {
      showError(err, "Deleting this video");
      $("#confirm-yes", view).disabled = false;
    }
  });

  await show(video, null);
  if (ACTIVE.has(video.status)) {
    new Poller(video.id, (v, eta) => show(v, eta), signal).start(200);
  }
}

/* ---------------------------------------------------------------- server state */

async function checkServer() {
  const dot = $("#server-state");
  const body = await server.load();
  if (!body) {
    dot.className = "dot bad";
    dot.textContent = "unreachable";
    return;
  }
  const worker = body.checks && body.checks.worker;
  if (body.status === "ready") {
    dot.className = "dot ok";
    dot.textContent = "ready";
    dot.title = worker && worker.mode ? `worker: ${worker.mode}, ${worker.busy} busy` : "ready";
  } else {
    dot.className = "dot bad";
    const failed = Object.entries(body.checks || {}).filter(([, c]) => !c.ok).map(([n]) => n);
    dot.textContent = `not ready: ${failed.join(", ")}`;
    dot.title = JSON.stringify(body.checks);
  }
}

/* ---------------------------------------------------------------- start */

window.addEventListener("hashchange", () => { clearError(); route(); });
document.addEventListener("DOMContentLoaded", async () => {
  $("#banner-close").addEventListener("click", clearError);
  $("#key-button").addEventListener("click", () => { location.hash = "#/key"; });
  await checkServer(); // also learns whether the server is in dev mode
  setInterval(checkServer, 15000);
  updateKeyButton();
  route();
});
