/* TTFD website: one script for every page, dispatching on <body data-page>.
 * Loaded (blocking, tiny, cached forever) from <head> so the saved theme applies before first paint; the rest
 * runs on DOMContentLoaded. No user text ever goes through innerHTML: only textContent and attributes. */
(function () {
  'use strict';

  // ---------------------------------------------------------------- theme (runs before first paint)
  const THEME_KEY = 'ttfd.appearance';
  const DEFAULT_ACCENT = '#5865f2';
  // Background / surface colours of each theme (mirrors site.css) for contrast checks of the accent.
  const THEME_SURFACES = {
    dark: ['#0d0f15', '#161922', '#1e2230'],
    light: ['#f4f5f9', '#ffffff', '#eceef5'],
  };

  function hexToRgb(hex) {
    const m = /^#([0-9a-f]{6})$/i.exec(hex || '');
    if (!m) return null;
    const n = parseInt(m[1], 16);
    return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
  }
  function rgbToHex(rgb) {
    return '#' + rgb.map((c) => Math.round(Math.max(0, Math.min(255, c))).toString(16).padStart(2, '0')).join('');
  }
  function luminance(rgb) {
    const [r, g, b] = rgb.map((c) => {
      const s = c / 255;
      return s <= 0.03928 ? s / 12.92 : Math.pow((s + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  }
  function contrast(a, b) {
    const la = luminance(a);
    const lb = luminance(b);
    return (Math.max(la, lb) + 0.05) / (Math.min(la, lb) + 0.05);
  }
  function mix(rgb, target, t) {
    return rgb.map((c, i) => c + (target[i] - c) * t);
  }
  /** The accent nudged toward white (dark theme) or black (light theme) until it reads at 4.5:1 on every surface. */
  function readableOn(accent, theme) {
    const plain = THEME_SURFACES[theme].map(hexToRgb);
    // …including the surfaces tinted with --accent-soft (current nav item, pills).
    const alpha = theme === 'dark' ? 0.18 : 0.12;
    const surfaces = plain.concat(plain.map((s) => mix(s, accent, alpha)));
    const target = theme === 'dark' ? [255, 255, 255] : [0, 0, 0];
    for (let t = 0; t <= 1.0001; t += 0.05) {
      const candidate = mix(accent, target, t);
      if (surfaces.every((s) => contrast(candidate, s) >= 4.5)) return rgbToHex(candidate);
    }
    return rgbToHex(target);
  }
  /** Custom properties for an accent colour on a theme: the fill, text on the fill, and accent-as-text. */
  function accentVars(color, theme) {
    let rgb = hexToRgb(color) || hexToRgb(DEFAULT_ACCENT);
    // Text on an accent fill: whichever of white / near-black contrasts more. Mid-tone colours (e.g. #e91e63)
    // reach 4.5:1 with neither, so the fill itself is shaded towards black until white text does.
    const white = [255, 255, 255];
    const ink = [17, 19, 26];
    let onAccent = contrast(rgb, white) >= contrast(rgb, ink) ? '#ffffff' : '#11131a';
    if (Math.max(contrast(rgb, white), contrast(rgb, ink)) < 4.5) {
      const base = rgb;
      for (let t = 0.05; t <= 1.0001 && contrast(rgb, white) < 4.5; t += 0.05) rgb = mix(base, [0, 0, 0], t);
      onAccent = '#ffffff';
    }
    return {
      '--accent': rgbToHex(rgb),
      '--on-accent': onAccent,
      '--accent-text': readableOn(rgb, theme),
      '--accent-soft': `rgba(${rgb.join(', ')}, ${theme === 'dark' ? 0.18 : 0.12})`,
    };
  }
  function systemTheme() {
    return window.matchMedia && window.matchMedia('(prefers-color-scheme: light)').matches ? 'light' : 'dark';
  }
  /** Apply theme + accent to an element (the root for the site, or the customize preview). */
  function applyAppearance(el, theme, color) {
    const effective = theme === 'light' || theme === 'dark' ? theme : systemTheme();
    if (theme === 'light' || theme === 'dark') el.dataset.theme = theme;
    else delete el.dataset.theme;
    const vars = accentVars(color || DEFAULT_ACCENT, effective);
    for (const [k, v] of Object.entries(vars)) el.style.setProperty(k, v);
  }
  function applySiteAppearance(appearance) {
    if (!appearance) {
      try { localStorage.removeItem(THEME_KEY); } catch (e) { /* storage may be blocked */ }
      applyAppearance(document.documentElement, null, DEFAULT_ACCENT);
      return;
    }
    applyAppearance(document.documentElement, appearance.theme, appearance.primary_color);
    try {
      localStorage.setItem(THEME_KEY, JSON.stringify({ theme: appearance.theme, primary_color: appearance.primary_color }));
    } catch (e) { /* storage may be blocked */ }
  }
  (function applySaved() {
    let saved = null;
    try { saved = JSON.parse(localStorage.getItem(THEME_KEY) || 'null'); } catch (e) { saved = null; }
    applyAppearance(document.documentElement, saved && saved.theme, saved && saved.primary_color);
  })();

  // ---------------------------------------------------------------- helpers
  const $ = (sel, root) => (root || document).querySelector(sel);
  const fmt = new Intl.NumberFormat();
  const num = (n) => fmt.format(n);

  function readConfig() {
    const el = document.getElementById('ttfd-config');
    try { return (el && JSON.parse(el.textContent)) || {}; } catch (e) { return {}; }
  }

  function getCookie(name) {
    for (const part of document.cookie.split(';')) {
      const i = part.indexOf('=');
      if (i > -1 && part.slice(0, i).trim() === name) return decodeURIComponent(part.slice(i + 1).trim());
    }
    return '';
  }

  class ApiError extends Error {
    constructor(status, title, problem) {
      super(title);
      this.status = status;
      this.title = title;
      this.problem = problem || {};  // the problem's extension members (a moved price, …)
    }
  }

  /** fetch() the same-origin API; JSON in and out, problem+json `title` becomes the error message. */
  async function api(path, options) {
    const opts = options || {};
    const method = opts.method || 'GET';
    const headers = { Accept: 'application/json, application/problem+json' };
    if (method !== 'GET' && method !== 'HEAD') headers['X-CSRF-Token'] = getCookie('csrf_token');
    // One key per user action: a retried or double-sent write is done once and answered the same.
    if (opts.once) headers['Idempotency-Key'] = opts.once;
    const init = { method, headers, credentials: 'same-origin' };
    if (opts.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(opts.body);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      throw new ApiError(0, "Can't reach TTFD right now. Check your connection and try again.");
    }
    if (res.status === 204) return null;
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (!res.ok) {
      const title = data && typeof data.title === 'string' && data.title ? data.title : `Something went wrong (HTTP ${res.status}).`;
      throw new ApiError(res.status, title, data);
    }
    return data;
  }

  let mePromise = null;
  /** GET /api/me once per page: the account, or null when logged out. */
  function getMe() {
    if (!mePromise) {
      mePromise = api('/api/me').catch((e) => {
        if (e.status === 401) return null;
        throw e;
      });
    }
    return mePromise;
  }

  /** An https URL as a string, or null (user-supplied background / music). */
  function safeHttpsUrl(value) {
    if (!value) return null;
    try {
      const u = new URL(value);
      return u.protocol === 'https:' ? u.href : null;
    } catch (e) {
      return null;
    }
  }
  function cssUrl(href) {
    return `url("${href.replace(/[\\"]/g, '\\$&').replace(/[\n\r\f]/g, '')}")`;
  }
  function setBackground(el, url) {
    const safe = safeHttpsUrl(url);
    if (safe) {
      el.style.setProperty('background-image', cssUrl(safe));
      el.classList.add('has-image');
    } else {
      el.style.removeProperty('background-image');
      el.classList.remove('has-image');
    }
  }

  function setText(sel, text) {
    const el = typeof sel === 'string' ? $(sel) : sel;
    if (el) el.textContent = text;
    return el;
  }
  function show(el, on) {
    const node = typeof el === 'string' ? $(el) : el;
    if (node) node.hidden = !on;
  }
  function safeNext(value) {
    return value && value.startsWith('/') && !value.startsWith('//') && !value.startsWith('/\\') ? value : null;
  }
  function loginUrl(next) {
    return `/login?next=${encodeURIComponent(next || location.pathname + location.search)}`;
  }
  function redirectToLogin() {
    location.replace(loginUrl(location.pathname + location.search));
  }

  const RANK_TIERS = { F: 'f', E: 'e', D: 'd', C: 'c', B: 'b', A: 'a', S: 's' };
  function rankBadge(el, code) {
    el.textContent = code;
    for (const cls of [...el.classList]) if (/^rank-[a-z]$/.test(cls)) el.classList.remove(cls);
    el.classList.add(`rank-${RANK_TIERS[(code || 'F').charAt(0)] || 'f'}`);
    el.setAttribute('aria-label', `Rank ${code}`);
    el.hidden = false;
  }
  function initial(name) {
    const ch = [...(name || '?').trim()][0] || '?';
    return ch.toUpperCase();
  }
  function hueClass(name) {
    let h = 0;
    for (const ch of name || '') h = (h * 31 + ch.codePointAt(0)) >>> 0;
    return `hue-${h % 8}`;
  }
  const PLATFORM_NAMES = { discord: 'Discord', telegram: 'Telegram', website: 'Website' };

  // ---------------------------------------------------------------- header (every page)
  function initHeader() {
    const login = $('#login-link');
    const logout = $('#logout');
    if (login && document.body.dataset.page !== 'login') {
      login.href = loginUrl(document.body.dataset.page === 'index' ? '/me' : location.pathname + location.search);
    }
    getMe().then(
      (me) => {
        applySiteAppearance(me ? me.appearance : null);
        if (me) {
          show(login, false);
          show(logout, true);
          const name = setText('#auth-name', me.name);
          show(name, true);
        }
      },
      () => { /* API down: leave the Log in link */ },
    );
    if (logout) {
      logout.addEventListener('click', async () => {
        logout.disabled = true;
        try {
          await api('/auth/logout', { method: 'POST' });
        } catch (e) {
          if (e.status !== 401) {
            logout.disabled = false;
            window.alert(e.message);
            return;
          }
        }
        applySiteAppearance(null);
        location.assign('/');
      });
    }
  }

  // ---------------------------------------------------------------- home
  // The hero card shows real numbers: yours when logged in, otherwise the top public player's.
  async function heroCard(entries) {
    const me = await getMe().catch(() => null);
    let profile = me;
    if (!profile) {
      const top = entries.find((e) => e.user_id !== null);
      if (!top) return;
      profile = await api(`/api/profile/${top.user_id}`).catch(() => null);
    }
    if (!profile || !profile.stats) return;
    const s = profile.stats;
    rankBadge($('#hero-rank'), s.rank.code);
    setText('#hero-level', `Level ${s.level.level}`);
    setText('#hero-xp', `${s.xp.toLocaleString('en-US')} XP`);
    setText('#hero-who', me ? 'You' : `#${entries.find((e) => e.user_id === profile.id).position} · ${profile.name}`);
    const pct = Math.max(0, Math.min(100, (100 * s.level.xp_into_level) / s.level.xp_for_next));
    $('#hero-bar').style.setProperty('width', `${pct.toFixed(1)}%`);
    $('#hero-card').href = me ? '/me' : `/u/${profile.id}`;
    $('#hero-card').setAttribute('aria-label', `${me ? 'Your' : profile.name + "'s"} profile: rank ${s.rank.code}, level ${s.level.level}`);
    show($('#hero-art'), true);
  }

  async function pageIndex() {
    const list = $('#top-players');
    try {
      const board = await api('/api/leaderboard?board=xp&page=1');
      list.replaceChildren();
      const entries = board.entries.slice(0, 5);
      if (!entries.length) {
        const li = document.createElement('li');
        li.className = 'placeholder';
        li.textContent = 'No one has earned XP yet — be the first!';
        list.append(li);
      }
      for (const e of entries) list.append(boardItem(e, 'XP'));
      await heroCard(entries);
    } catch (e) {
      list.replaceChildren();
      const li = document.createElement('li');
      li.className = 'placeholder';
      li.textContent = `Couldn't load the leaderboard: ${e.message}`;
      list.append(li);
    }
    list.setAttribute('aria-busy', 'false');
  }
  function playerLink(entry) {
    if (entry.user_id === null || entry.user_id === undefined) {
      const span = document.createElement('span');
      span.className = 'player-name';
      span.textContent = entry.name;
      return span;
    }
    const a = document.createElement('a');
    a.className = 'player-name';
    a.href = `/u/${encodeURIComponent(String(entry.user_id))}`;
    a.textContent = entry.name;
    return a;
  }
  function positionBadge(position) {
    const span = document.createElement('span');
    span.className = `pos${position <= 3 ? ` pos-${position}` : ''}`;
    span.textContent = String(position);
    return span;
  }
  /** The small initial-letter avatar of a leaderboard entry. */
  function smallAvatar(name) {
    const avatar = document.createElement('span');
    avatar.className = `avatar avatar-small ${hueClass(name)}`;
    avatar.setAttribute('aria-hidden', 'true');
    avatar.textContent = initial(name);
    return avatar;
  }
  function boardItem(entry, unit) {
    const li = document.createElement('li');
    li.className = 'top-item';
    const avatar = smallAvatar(entry.name);
    const value = document.createElement('span');
    value.className = 'top-value';
    value.textContent = `${num(entry.value)} ${unit}`;
    li.append(positionBadge(entry.position), avatar, playerLink(entry), value);
    return li;
  }

  // ---------------------------------------------------------------- login
  const LOGIN_ERRORS = {
    denied: 'You cancelled the Discord login. No worries — try again whenever you like.',
    state: 'That login link expired or was opened in another browser. Please start again.',
    provider: "Discord didn't answer properly. Please try again in a moment.",
    rate: 'Too many login attempts. Please wait a minute and try again.',
  };
  async function pageLogin() {
    const params = new URLSearchParams(location.search);
    const next = safeNext(params.get('next')) || '/me';
    $('#login-discord').href = `/auth/discord/login?next=${encodeURIComponent(next)}`;
    const error = params.get('error');
    if (error) {
      setText('#login-error', LOGIN_ERRORS[error] || 'Logging in failed. Please try again.');
      show('#login-error', true);
    }
    let me = null;
    try { me = await getMe(); } catch (e) { me = null; }
    if (me) {
      setText('#login-already-name', me.name);
      const link = $('#login-already a');
      if (link) link.href = next;
      show('#login-already', true);
      show('#login-form', false);
      show('#login-error', false);
    }
  }

  // ---------------------------------------------------------------- profile card (/me and /u)
  function renderProfile(p, isMe) {
    document.title = `${p.name} — TTFD`;
    const card = $('#profile');
    const appearance = p.appearance || {};
    const theme = document.documentElement.dataset.theme || systemTheme();
    const vars = accentVars(appearance.primary_color || DEFAULT_ACCENT, theme);
    for (const [k, v] of Object.entries(vars)) card.style.setProperty(k, v);

    setBackground($('#profile-cover'), appearance.background_image);
    setText('#profile-avatar', initial(p.name));
    setText('#profile-name', p.name);
    const meta = [];
    if (p.username) meta.push(`@${p.username}`);
    if (p.member_since) {
      const d = new Date(p.member_since);
      if (!Number.isNaN(d.getTime())) meta.push(`Member since ${d.toLocaleDateString(undefined, { year: 'numeric', month: 'long' })}`);
    }
    setText('#profile-meta', meta.join(' · '));

    const bio = $('#profile-bio');
    bio.textContent = appearance.bio || (isMe ? 'No bio yet — add one on the Customize page.' : '');
    bio.classList.toggle('empty', !appearance.bio);
    show(bio, Boolean(appearance.bio) || isMe);

    const s = p.stats;
    show('#profile-stats', Boolean(s));
    show('#profile-private', !s);
    if (s) {
      rankBadge($('#profile-rank'), s.rank.code);
      setText('#level-label', `Level ${num(s.level.level)}`);
      setText('#level-detail', `${num(s.level.xp_into_level)} / ${num(s.level.xp_for_next)} XP to level ${num(s.level.level + 1)}`);
      const lp = $('#level-progress');
      lp.max = s.level.xp_for_next;
      lp.value = Math.min(s.level.xp_into_level, s.level.xp_for_next);
      lp.setAttribute('aria-valuetext', `${num(s.level.xp_into_level)} of ${num(s.level.xp_for_next)} XP`);
      const rp = $('#rank-progress');
      if (s.next_rank) {
        const span = Math.max(1, s.next_rank.min_xp - s.rank.min_xp);
        const into = Math.max(0, Math.min(span, s.xp - s.rank.min_xp));
        setText('#rank-next', `Rank ${s.rank.code} → ${s.next_rank.code}: ${num(Math.max(0, s.next_rank.min_xp - s.xp))} XP to go`);
        rp.max = span;
        rp.value = into;
        rp.setAttribute('aria-valuetext', `${num(into)} of ${num(span)} XP`);
      } else {
        setText('#rank-next', `Top rank ${s.rank.code} reached`);
        rp.max = 1;
        rp.value = 1;
      }
      setText('#stat-xp', num(s.xp));
      setText('#stat-position', s.xp_position ? `#${num(s.xp_position)}` : '—');
      setText('#stat-coins', num(s.coins));
      setText('#stat-week', `${num(s.week_xp)} XP`);
      const season = p.seasons;
      setText('#stat-season', season ? `${num(season.xp)} XP${season.position ? ` · #${num(season.position)}` : ''}` : '—');
      setText('#stat-streak', `${num(s.daily_streak)} ${s.daily_streak === 1 ? 'day' : 'days'}`);
      setText('#stat-games', `${num(s.games_played)} played · ${num(s.games_won)} won`);
      setText('#stat-messages', num(s.messages_sent));
    } else {
      show('#profile-rank', false);
    }

    renderGames(p.games ? p.games.recent : null);
    renderItems(p.shop, isMe);
    renderAchievements(p.achievements);

    const linked = $('#profile-linked');
    linked.replaceChildren();
    for (const platform of p.linked || []) {
      const li = document.createElement('li');
      li.className = `chip chip-${PLATFORM_NAMES[platform] ? platform : 'other'}`;
      li.textContent = PLATFORM_NAMES[platform] || platform;
      linked.append(li);
    }
    if (!linked.children.length) {
      const li = document.createElement('li');
      li.className = 'chip';
      li.textContent = 'None yet';
      linked.append(li);
    }

    const music = safeHttpsUrl(appearance.music_url);
    const audio = $('#profile-music');
    if (music) audio.src = music;
    else audio.removeAttribute('src');
    show('#profile-music-section', Boolean(music));

    const img = $('#rank-card');
    img.alt = s ? `Rank card of ${p.name}: rank ${s.rank.code}, level ${s.level.level}` : `Rank card of ${p.name}`;
    img.src = p.card_url;
    $('#rank-card-link').href = p.card_url;

    show('#profile-loading', false);
    show(card, true);
  }
  const GAME_NAMES = { coinflip: 'Coin flip', dice: 'Dice', rps: 'Rock paper scissors', duel: 'Duel' };
  function renderGames(recent) {
    const body = $('#profile-games tbody');
    body.replaceChildren();
    for (const g of recent || []) {
      const tr = document.createElement('tr');
      const net = g.payout - g.bet;
      const result = g.won ? `Won +${num(net)}` : (g.payout === g.bet ? 'Tie' : `Lost −${num(g.bet)}`);
      for (const text of [GAME_NAMES[g.game] || g.game, num(g.bet), result, new Date(g.at).toLocaleString()]) {
        const td = document.createElement('td');
        td.textContent = text;
        tr.append(td);
      }
      tr.className = g.won ? 'won' : 'lost';
      body.append(tr);
    }
    show('#profile-games-section', Boolean(recent && recent.length));
  }

  /** The badge grid: unlocked ones in colour, locked ones greyed, hidden ones as "???" until unlocked. */
  function renderAchievements(a) {
    const grid = $('#profile-achievements');
    grid.replaceChildren();
    for (const item of (a && a.list) || []) {
      const li = document.createElement('li');
      li.className = item.unlocked_at ? 'badge' : 'badge locked';
      const icon = document.createElement('span');
      icon.className = 'badge-icon';
      icon.setAttribute('aria-hidden', 'true');
      icon.textContent = item.icon;
      const name = document.createElement('span');
      name.className = 'badge-name';
      name.textContent = item.name;
      const desc = document.createElement('span');
      desc.className = 'badge-desc';
      desc.textContent = item.unlocked_at
        ? `Unlocked ${new Date(item.unlocked_at).toLocaleDateString()}`
        : `Locked — ${item.description}`;
      li.append(icon, name, desc);
      grid.append(li);
    }
    setText('#achievements-count', a ? `${num(a.unlocked)} of ${num(a.total)}` : '');
    show('#profile-achievements-section', Boolean(a && a.list && a.list.length));
  }

  /** Owned items (badges for everyone who may see the stats; the owner sees everything and the history). */
  function renderItems(shop, isMe) {
    const list = $('#profile-items');
    list.replaceChildren();
    const owned = shop ? (isMe && shop.inventory ? shop.inventory.map((o) => `${o.item.name} × ${num(o.quantity)}`) : shop.badges) : [];
    for (const name of owned) {
      const li = document.createElement('li');
      li.className = 'chip';
      li.textContent = name;
      list.append(li);
    }
    const body = $('#profile-purchases tbody');
    body.replaceChildren();
    const purchases = (shop && shop.purchases) || [];
    for (const p of purchases) {
      const tr = document.createElement('tr');
      const what = `${p.quantity > 1 ? `${num(p.quantity)} × ` : ''}${p.item}${p.refunded ? ' (refunded)' : ''}`;
      for (const text of [what, num(p.total), PLATFORM_NAMES[p.platform] || p.platform, new Date(p.at).toLocaleString()]) {
        const td = document.createElement('td');
        td.textContent = text;
        tr.append(td);
      }
      body.append(tr);
    }
    show('#profile-purchases-wrap', purchases.length > 0);
    show('#profile-items-section', owned.length > 0 || purchases.length > 0);
  }

  function profileError(title, message) {
    show('#profile-loading', false);
    setText('#profile-error-title', title);
    setText('#profile-error-text', message);
    show('#profile-error', true);
  }

  async function pageMe() {
    let me;
    try { me = await getMe(); } catch (e) { profileError("Couldn't load your profile", e.message); return; }
    if (!me) { redirectToLogin(); return; }
    renderProfile(me, true);
    $('#public-link').href = `/u/${me.id}`; // by id: usernames may be shared across platforms
    show('#me-actions', true);
  }

  function profileRef() {
    const path = location.pathname;
    if (path.startsWith('/u/')) {
      const raw = path.slice(3).replace(/\/+$/, '');
      if (raw) {
        try { return decodeURIComponent(raw); } catch (e) { return raw; }
      }
    }
    return new URLSearchParams(location.search).get('u') || '';
  }
  function noSuchPlayer() {
    document.title = 'No such player — TTFD';
    profileError('No such player', "There's no TTFD player with that name or id. Check the link, or find them on the leaderboard.");
  }
  async function pageU() {
    const ref = profileRef().trim();
    if (!ref || ref.length > 64) { noSuchPlayer(); return; }
    try { await getMe(); } catch (e) { /* the viewer's theme only */ }
    try {
      const p = await api(`/api/profile/${encodeURIComponent(ref)}`);
      renderProfile(p, false);
    } catch (e) {
      if (e.status === 404) noSuchPlayer();
      else profileError("Couldn't load this profile", e.message);
    }
  }

  // ---------------------------------------------------------------- settings
  const PRIVACY_FIELDS = ['show_stats', 'notifications'];
  function setStatus(el, message, kind) {
    const node = typeof el === 'string' ? $(el) : el;
    node.textContent = message;
    node.classList.remove('ok', 'error', 'busy');
    if (kind) node.classList.add(kind);
  }
  async function pageSettings() {
    const status = $('#status');
    let me;
    try { me = await getMe(); } catch (e) { setStatus(status, e.message, 'error'); return; }
    if (!me) { redirectToLogin(); return; }
    const fill = (m) => { for (const f of PRIVACY_FIELDS) $(`#${f}`).checked = Boolean(m.privacy[f]); };
    fill(me);
    $('#settings-fields').disabled = false;
    const save = $('#save-settings');
    save.disabled = false;
    $('#settings-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const body = {};
      for (const f of PRIVACY_FIELDS) body[f] = $(`#${f}`).checked;
      save.disabled = true;
      setStatus(status, 'Saving…', 'busy');
      try {
        const updated = await api('/api/me', { method: 'PATCH', body });
        fill(updated);
        setStatus(status, 'Settings saved.', 'ok');
      } catch (e) {
        if (e.status === 401) { redirectToLogin(); return; }
        setStatus(status, e.message, 'error');
      } finally {
        save.disabled = false;
      }
    });
  }

  // ---------------------------------------------------------------- customize
  const BIO_MAX = 500;
  async function pageCustomize() {
    const status = $('#status');
    let me;
    try { me = await getMe(); } catch (e) { setStatus(status, e.message, 'error'); return; }
    if (!me) { redirectToLogin(); return; }
    const form = $('#customize-form');
    const f = {
      theme: $('#theme'),
      primary_color: $('#primary_color'),
      background_image: $('#background_image'),
      music_url: $('#music_url'),
      bio: $('#bio'),
    };
    const fill = (m) => {
      const a = m.appearance;
      f.theme.value = a.theme === 'light' ? 'light' : 'dark';
      f.primary_color.value = hexToRgb(a.primary_color) ? a.primary_color : DEFAULT_ACCENT;
      f.background_image.value = a.background_image || '';
      f.music_url.value = a.music_url || '';
      f.bio.value = a.bio || '';
    };
    fill(me);
    const preview = $('#preview');
    setText('#preview-name', me.name);
    setText('#preview-avatar', initial(me.name));
    if (me.stats) {
      rankBadge($('#preview-rank'), me.stats.rank.code);
      setText('#preview-level', `Level ${num(me.stats.level.level)}`);
      const pp = $('#preview-progress');
      pp.max = me.stats.level.xp_for_next;
      pp.value = me.stats.level.xp_into_level;
    }

    const urlCheck = (input, what) => {
      const v = input.value.trim();
      if (v && !safeHttpsUrl(v)) input.setCustomValidity(`${what} must be an https:// link.`);
      else input.setCustomValidity('');
      input.setAttribute('aria-invalid', input.validity.valid ? 'false' : 'true');
    };
    const update = () => {
      applyAppearance(preview, f.theme.value, f.primary_color.value);
      setText('#primary_color-value', f.primary_color.value);
      setBackground($('#preview-cover'), f.background_image.value.trim());
      const bioText = f.bio.value;
      const bio = setText('#preview-bio', bioText || 'Your bio appears here.');
      bio.classList.toggle('empty', !bioText);
      const count = $('#bio-count');
      count.textContent = `${bioText.length} / ${BIO_MAX}`;
      count.classList.toggle('near-limit', bioText.length > BIO_MAX - 50);
      urlCheck(f.background_image, 'The background image');
      urlCheck(f.music_url, 'The music link');
    };
    form.addEventListener('input', update);
    form.addEventListener('change', update);
    update();
    $('#customize-fields').disabled = false;
    const save = $('#save-customize');
    save.disabled = false;

    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      update();
      const invalid = [f.background_image, f.music_url, f.bio].find((el) => !el.checkValidity());
      if (invalid) {
        setStatus(status, invalid.validationMessage || 'Please fix the highlighted field.', 'error');
        invalid.focus();
        return;
      }
      const body = {
        theme: f.theme.value,
        primary_color: f.primary_color.value.toLowerCase(),
        background_image: f.background_image.value.trim() || null,
        music_url: f.music_url.value.trim() || null,
        bio: f.bio.value.trim() ? f.bio.value : null,
      };
      save.disabled = true;
      setStatus(status, 'Saving…', 'busy');
      try {
        const updated = await api('/api/me', { method: 'PATCH', body });
        fill(updated);
        update();
        applySiteAppearance(updated.appearance);
        setStatus(status, 'Saved! Your profile is updated everywhere.', 'ok');
      } catch (e) {
        if (e.status === 401) { redirectToLogin(); return; }
        setStatus(status, e.message, 'error');
      } finally {
        save.disabled = false;
      }
    });
  }

  // ---------------------------------------------------------------- leaderboard
  const BOARDS = {
    xp: { label: 'XP', unit: 'XP', caption: 'XP leaderboard' },
    week: { label: 'This week', unit: 'XP this week', caption: "This week's XP leaderboard" },
    season: { label: 'This season', unit: 'XP this season', caption: "This season's XP leaderboard" },
    coins: { label: 'Coins', unit: 'Coins', caption: 'Coins leaderboard' },
  };
  async function pageLeaderboard() {
    const params = new URLSearchParams(location.search);
    const state = {
      board: BOARDS[params.get('board')] ? params.get('board') : 'xp',
      page: Math.max(1, parseInt(params.get('page') || '1', 10) || 1),
      pages: 1,
    };
    const tabs = [...document.querySelectorAll('#lb-tabs [role="tab"]')];
    const panel = $('#lb-panel');
    const body = $('#lb-body');
    const table = $('#lb-table');
    const prev = $('#lb-prev');
    const next = $('#lb-next');
    let seq = 0;

    const selectTab = (board, focus) => {
      for (const t of tabs) {
        const on = t.dataset.board === board;
        t.setAttribute('aria-selected', on ? 'true' : 'false');
        t.tabIndex = on ? 0 : -1;
        if (on) {
          panel.setAttribute('aria-labelledby', t.id);
          if (focus) t.focus();
        }
      }
      setText('#lb-value-head', board === 'week' || board === 'season' ? BOARDS[board].unit : BOARDS[board].label);
      setText('#lb-caption', BOARDS[board].caption);
    };
    const syncUrl = () => {
      const q = new URLSearchParams(location.search);
      q.set('board', state.board);
      q.set('page', String(state.page));
      history.replaceState(null, '', `${location.pathname}?${q.toString()}`);
    };
    const message = (text) => {
      const tr = document.createElement('tr');
      const td = document.createElement('td');
      td.colSpan = 3;
      td.className = 'placeholder';
      td.textContent = text;
      tr.append(td);
      body.replaceChildren(tr);
    };
    const load = async () => {
      const mine = ++seq;
      table.setAttribute('aria-busy', 'true');
      prev.disabled = true;
      next.disabled = true;
      show('#lb-error', false);
      let board;
      try {
        board = await api(`/api/leaderboard?board=${encodeURIComponent(state.board)}&page=${state.page}`);
      } catch (e) {
        if (mine !== seq) return;
        message("Couldn't load the leaderboard.");
        setText('#lb-error', e.message);
        show('#lb-error', true);
        table.setAttribute('aria-busy', 'false');
        prev.disabled = state.page <= 1;
        return;
      }
      if (mine !== seq) return;
      state.page = board.page;
      state.pages = Math.max(1, board.pages);
      syncUrl();
      if (!board.entries.length) message('Nobody is on this board yet.');
      else {
        const rows = board.entries.map((e) => {
          const tr = document.createElement('tr');
          if (e.me) {  // only the viewer's own row, not every row tied with it
            tr.className = 'is-me';
            tr.setAttribute('aria-current', 'true');
          }
          const pos = document.createElement('td');
          pos.className = 'col-pos';
          pos.append(positionBadge(e.position));
          const player = document.createElement('td');
          const wrap = document.createElement('span');
          wrap.className = 'player-cell';
          wrap.append(smallAvatar(e.name), playerLink(e));
          if (e.user_id === null) {
            const hidden = document.createElement('span');
            hidden.className = 'muted small';
            hidden.textContent = ' (private)';
            wrap.append(hidden);
          }
          player.append(wrap);
          const value = document.createElement('td');
          value.className = 'col-value';
          value.textContent = num(e.value);
          tr.append(pos, player, value);
          return tr;
        });
        body.replaceChildren(...rows);
      }
      setText('#lb-page', `Page ${num(state.page)} of ${num(state.pages)}`);
      prev.disabled = state.page <= 1;
      next.disabled = state.page >= state.pages;
      const mineEl = $('#lb-mine');
      if (board.mine) {
        mineEl.replaceChildren();
        const strong = document.createElement('strong');
        strong.textContent = `#${num(board.mine.position)}`;
        mineEl.append('Your position: ', strong, ` · ${num(board.mine.value)} ${BOARDS[state.board].unit}`);
        show(mineEl, true);
      } else {
        show(mineEl, false);
      }
      table.setAttribute('aria-busy', 'false');
    };

    for (const t of tabs) {
      t.addEventListener('click', () => {
        if (state.board === t.dataset.board) return;
        state.board = t.dataset.board;
        state.page = 1;
        selectTab(state.board, false);
        load();
      });
      t.addEventListener('keydown', (ev) => {
        const i = tabs.indexOf(t);
        let j = null;
        if (ev.key === 'ArrowRight' || ev.key === 'ArrowDown') j = (i + 1) % tabs.length;
        else if (ev.key === 'ArrowLeft' || ev.key === 'ArrowUp') j = (i - 1 + tabs.length) % tabs.length;
        else if (ev.key === 'Home') j = 0;
        else if (ev.key === 'End') j = tabs.length - 1;
        if (j === null) return;
        ev.preventDefault();
        state.board = tabs[j].dataset.board;
        state.page = 1;
        selectTab(state.board, true);
        load();
      });
    }
    prev.addEventListener('click', () => { if (state.page > 1) { state.page -= 1; load(); } });
    next.addEventListener('click', () => { if (state.page < state.pages) { state.page += 1; load(); } });
    selectTab(state.board, false);
    await Promise.all([load(), loadSeasons()]);
  }

  const dayFmt = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC' });
  /** The last day of a season that ends at `endsAt` (exclusive, UTC midnight). */
  const lastDay = (endsAt) => dayFmt.format(new Date(new Date(endsAt).getTime() - 1));
  /** Past seasons with their top 10, the season under way and, logged in, your placements. */
  async function loadSeasons() {
    const box = $('#seasons');
    let data;
    try {
      data = await api('/api/seasons');
    } catch (e) {
      setText('#season-now', `Couldn't load the seasons: ${e.message}`);
      box.setAttribute('aria-busy', 'false');
      return;
    }
    const now = data.current;
    const nowEl = $('#season-now');
    nowEl.replaceChildren();
    if (!now) nowEl.textContent = 'No season is under way right now.';
    else {
      const name = document.createElement('strong');
      name.textContent = now.name;
      nowEl.append('This season: ', name, ` · ends after ${lastDay(now.ends_at)}`);
      if (now.mine) {
        nowEl.append(now.mine.position
          ? ` · you are #${num(now.mine.position)} with ${num(now.mine.xp)} XP`
          : ' · you have no XP this season yet');
      }
    }
    const mine = $('#season-mine');
    mine.replaceChildren(...(data.mine || []).map((m) => {
      const li = document.createElement('li');
      const strong = document.createElement('strong');
      strong.textContent = `#${num(m.position)}`;
      li.append(`${m.name}: `, strong, ` of ${num(m.players)} · ${num(m.xp)} XP`);
      return li;
    }));
    show('#season-mine-box', Boolean(data.mine && data.mine.length));
    show('#season-none', !data.past.length);
    $('#season-past').replaceChildren(...data.past.map((season, i) => {
      const details = document.createElement('details');
      details.className = 'season-past';
      details.open = i === 0;
      const summary = document.createElement('summary');
      const title = document.createElement('strong');
      title.textContent = season.name;
      summary.append(title, ` · ${num(season.players)} players`);
      const list = document.createElement('ol');
      list.className = 'season-top';
      list.append(...season.top.map((e) => {
        const li = document.createElement('li');
        if (e.me) {
          li.className = 'is-me';
          li.setAttribute('aria-current', 'true');
        }
        const value = document.createElement('span');
        value.className = 'col-value';
        value.textContent = `${num(e.xp)} XP`;
        li.append(positionBadge(e.position), ' ', smallAvatar(e.name), ' ', playerLink(e), ' ', value);
        return li;
      }));
      details.append(summary, list);
      return details;
    }));
    box.setAttribute('aria-busy', 'false');
  }

  // ---------------------------------------------------------------- link accounts
  const NUMERIC_WIDGET_FIELDS = ['id', 'auth_date'];
  const TG_NONCE_PARAM = 'tg_nonce';
  const TG_NONCE_KEY = 'ttfd.tg_nonce';
  /** Keep only the Login Widget fields; id and auth_date as numbers (the hash covers their decimal text). */
  /** Widget fields as the server checks them: every field received, id and auth_date as numbers. */
  function widgetPayload(source) {
    const entries = source instanceof URLSearchParams ? [...source.entries()] : Object.entries(source);
    const out = {};
    for (const [k, v] of entries) {
      if (v === null || v === undefined) continue;
      out[k] = NUMERIC_WIDGET_FIELDS.includes(k) ? Number(v) : String(v);
    }
    return out;
  }
  function renderLinked(me) {
    const linked = new Set(me.linked || []);
    for (const platform of Object.keys(PLATFORM_NAMES)) {
      const li = $(`#linked-${platform}`);
      if (!li) continue;
      const on = linked.has(platform);
      li.classList.toggle('is-linked', on);
      setText($('.platform-state', li), on ? '✓ Linked' : 'Not linked');
    }
  }
  async function pageLink() {
    const config = readConfig();
    const tgStatus = $('#tg-status');
    let me;
    try { me = await getMe(); } catch (e) {
      show('#link-loading', false);
      setText('#link-loading', e.message);
      show('#link-loading', true);
      return;
    }
    show('#link-loading', false);
    const params = new URLSearchParams(location.search);
    const fromWidget = params.has('id') && params.has('hash');
    if (!me) {
      $('#link-login-btn').href = loginUrl('/link');
      show('#link-login', true);
      return;
    }
    show('#link-main', true);
    renderLinked(me);

    const linkTelegram = async (payload) => {
      setStatus(tgStatus, 'Linking your Telegram account…', 'busy');
      try {
        const result = await api('/auth/telegram', { method: 'POST', body: payload });
        renderLinked(result.me);
        const who = payload.username ? `@${payload.username}` : payload.first_name || 'your account';
        setStatus(
          tgStatus,
          result.merged
            ? `Telegram ${who} linked. Your existing Telegram account was merged into this one — its XP, coins and streak are here now.`
            : `Telegram ${who} linked.`,
          'ok',
        );
        mePromise = Promise.resolve(result.me);
      } catch (e) {
        setStatus(tgStatus, e.status === 401 ? 'Your session ended — log in again, then link Telegram.' : e.message, 'error');
      }
    };

    if (fromWidget) {
      // Every field Telegram sent is signed, so all of them go to the server (ours, tg_nonce, does not).
      const nonce = params.get(TG_NONCE_PARAM);
      params.delete(TG_NONCE_PARAM);
      const payload = widgetPayload(params);
      history.replaceState(null, '', `${location.pathname}${location.hash}`);
      const expected = sessionStorage.getItem(TG_NONCE_KEY);
      sessionStorage.removeItem(TG_NONCE_KEY);
      if (nonce && expected && nonce === expected) {
        linkTelegram(payload); // the round trip this tab started with the widget
      } else {
        // A signed link can be copied and sent to someone else: never link one without asking.
        const who = payload.username ? `@${payload.username}` : payload.first_name || 'a Telegram account';
        setText('#tg-confirm-text', `Link the Telegram account ${who} (id ${payload.id}) to your TTFD account ${me.name}? ` +
          'Only continue if you just signed in with Telegram yourself.');
        show('#tg-confirm', true);
        $('#tg-confirm-yes').addEventListener('click', () => { show('#tg-confirm', false); linkTelegram(payload); }, { once: true });
        $('#tg-confirm-no').addEventListener('click', () => {
          show('#tg-confirm', false);
          setStatus(tgStatus, 'Nothing was linked.', 'ok');
        }, { once: true });
        $('#tg-confirm-yes').focus();
      }
    }

    if (config.telegram_bot) {
      const box = $('#tg-widget');
      const script = document.createElement('script');
      script.async = true;
      script.src = 'https://telegram.org/js/telegram-widget.js?22';
      script.dataset.telegramLogin = config.telegram_bot;
      script.dataset.size = 'large';
      // The widget comes back to /link with the signed fields; the nonce proves this tab asked for it.
      const nonce = Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
      sessionStorage.setItem(TG_NONCE_KEY, nonce);
      script.dataset.authUrl = `${location.origin}/link?${TG_NONCE_PARAM}=${nonce}`;
      script.dataset.requestAccess = 'write';
      script.addEventListener('error', () => {
        const p = document.createElement('p');
        p.className = 'muted';
        p.textContent = "Couldn't load the Telegram login button. Check your connection or use a link code below.";
        box.replaceChildren(p);
      });
      box.append(script);
    }

    const devForm = $('#dev-tg-form');
    if (devForm && config.dev_telegram_login) {
      devForm.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        if (!devForm.reportValidity()) return;
        const url = new URL(config.dev_telegram_login, location.origin);
        url.searchParams.set('id', $('#dev-tg-id').value.trim());
        url.searchParams.set('first_name', $('#dev-tg-name').value.trim());
        const username = $('#dev-tg-username').value.trim().replace(/^@/, '');
        if (username) url.searchParams.set('username', username);
        const button = $('#dev-tg-login');
        button.disabled = true;
        try {
          const fields = await api(url.href);
          await linkTelegram(widgetPayload(fields));
        } catch (e) {
          setStatus(tgStatus, `Dev login failed: ${e.message}`, 'error');
        } finally {
          button.disabled = false;
        }
      });
    }

    initLinkCode();
    initRedeem();
  }

  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 12)}`;
  }

  function initRedeem() {
    const form = $('#redeem-form');
    const status = $('#redeem-status');
    const button = $('#redeem-btn');
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const code = $('#redeem-code').value.trim();
      if (code.length < 4) {
        setStatus(status, 'Enter the code /link gave you.', 'error');
        return;
      }
      button.disabled = true;
      setStatus(status, 'Linking…', 'busy');
      try {
        const done = await api('/api/link-redeem', { method: 'POST', body: { code }, once: newKey() });
        setStatus(status, done.message, 'ok');
        $('#redeem-code').value = '';
        renderLinked(await api('/api/me'));
      } catch (e) {
        if (e.status === 401) { redirectToLogin(); return; }
        setStatus(status, e.message, 'error');
      } finally {
        button.disabled = false;
      }
    });
  }

  function initLinkCode() {
    const btn = $('#link-code-btn');
    const status = $('#link-code-status');
    const expiry = $('#link-code-expiry');
    let timer = null;
    const stop = () => { if (timer !== null) { clearInterval(timer); timer = null; } };
    btn.addEventListener('click', async () => {
      btn.disabled = true;
      setStatus(status, 'Getting a code…', 'busy');
      try {
        const data = await api('/api/link-code', { method: 'POST' });
        stop();
        // Count down from ttl_s on our own clock (immune to client clock skew); expires_at is the fallback.
        const ttl = Number.isFinite(data.ttl_s) ? data.ttl_s : (Date.parse(data.expires_at) - Date.now()) / 1000;
        const deadline = Date.now() + Math.max(0, ttl) * 1000;
        setText('#link-code', data.code);
        setText('#code-tg', `/link ${data.code}`);
        setText('#code-dc', `/link code:${data.code}`);
        show('#link-code-box', true);
        $('#link-code-box').classList.remove('expired');
        setStatus(status, 'Your code is ready — it works once.', 'ok');
        const tick = () => {
          const left = Math.round((deadline - Date.now()) / 1000);
          if (left <= 0) {
            stop();
            expiry.textContent = 'This code has expired. Get a new one.';
            $('#link-code-box').classList.add('expired');
            setStatus(status, 'The link code expired.', 'error');
            return;
          }
          const m = Math.floor(left / 60);
          const sec = String(left % 60).padStart(2, '0');
          expiry.textContent = `Expires in ${m}:${sec}`;
        };
        tick();
        timer = setInterval(tick, 1000);
        btn.textContent = 'Get a new code';
      } catch (e) {
        if (e.status === 401) { redirectToLogin(); return; }
        setStatus(status, e.message, 'error');
      } finally {
        btn.disabled = false;
      }
    });
    $('#copy-code').addEventListener('click', async () => {
      const code = $('#link-code').textContent;
      try {
        await navigator.clipboard.writeText(code);
        setStatus(status, 'Code copied to the clipboard.', 'ok');
      } catch (e) {
        const range = document.createRange();
        range.selectNodeContents($('#link-code'));
        const sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
        setStatus(status, 'Select and copy the code manually.', 'error');
      }
    });
  }

  // ---------------------------------------------------------------- shop
  const KIND_NAMES = { cosmetic: 'Badge', role: 'Server role', streak_freeze: 'Streak freeze', xp_boost: 'XP boost' };
  const KIND_ICONS = { cosmetic: '🎖️', role: '🏷️', streak_freeze: '🧊', xp_boost: '⚡' };
  const SHOP_REFRESH_MS = 15000;  // stock is live: sold-out items turn so without a reload

  function stockText(item) {
    if (item.stock === null) return 'In stock';
    return item.stock === 0 ? 'Sold out' : `${num(item.stock)} left`;
  }

  async function pageShop() {
    const list = $('#shop-items');
    const cards = new Map();  // item id → its card's parts, kept across refreshes (a pending confirm survives)
    let me = null;

    const setBalance = (balance) => {
      setText('#shop-balance', `Your balance: ${num(balance)} coins`);
      show('#shop-balance', true);
    };

    const card = (item) => {
      const li = document.createElement('li');
      li.className = 'shop-item';
      const img = document.createElement('div');
      img.className = 'shop-image';
      img.setAttribute('aria-hidden', 'true');
      const title = document.createElement('h3');
      const kind = document.createElement('p');
      kind.className = 'muted small';
      const desc = document.createElement('p');
      desc.className = 'shop-desc';
      const meta = document.createElement('p');
      meta.className = 'shop-meta';
      const price = document.createElement('span');
      price.className = 'shop-price';
      const stock = document.createElement('span');
      stock.className = 'shop-stock';
      meta.append(price, stock);
      const owned = document.createElement('p');
      owned.className = 'muted small';
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'btn btn-small';
      const status = document.createElement('p');
      status.className = 'status';
      status.setAttribute('role', 'status');
      li.append(img, title, kind, desc, meta, owned, button, status);
      const parts = { li, img, title, kind, desc, price, stock, owned, button, status, item, key: null, confirming: false };
      button.addEventListener('click', () => buy(parts));
      return parts;
    };

    const paint = (parts) => {
      const { item } = parts;
      setBackground(parts.img, item.image_url);
      parts.img.textContent = safeHttpsUrl(item.image_url) ? '' : KIND_ICONS[item.kind] || '🎁';
      setText(parts.title, item.name);
      setText(parts.kind, `${KIND_NAMES[item.kind] || item.kind}${item.per_user_limit ? ` · ${item.per_user_limit} per person` : ''}`);
      setText(parts.desc, item.description);
      setText(parts.price, `${num(item.price)} coins`);
      setText(parts.stock, stockText(item));
      parts.li.classList.toggle('sold-out', item.sold_out);
      setText(parts.owned, me && item.owned ? `You own ${num(item.owned)}` : '');
      const short = me && me.balance < item.price;
      parts.button.disabled = !me || item.sold_out || short;
      if (!parts.confirming) {
        parts.button.textContent = item.sold_out ? 'Sold out' : !me ? 'Log in to buy' : short ? 'Not enough coins' : `Buy for ${num(item.price)}`;
      }
    };

    const buy = async (parts) => {
      if (!parts.confirming) {  // first click asks; the second buys
        parts.confirming = true;
        parts.key = newKey();  // one key per confirmed purchase: a retry or double click buys once
        parts.shownPrice = parts.item.price;  // bought at this price or not at all (the server checks)
        parts.button.textContent = `Confirm: ${num(parts.shownPrice)} coins`;
        parts.button.classList.add('btn-confirm');
        setStatus(parts.status, 'Click again to buy.', 'busy');
        return;
      }
      parts.button.disabled = true;
      setStatus(parts.status, 'Buying…', 'busy');
      try {
        const body = { item_id: parts.item.id, quantity: 1, price: parts.shownPrice };
        const done = await api('/api/shop/buy', { method: 'POST', body, once: parts.key });
        me.balance = done.balance;
        parts.item = Object.assign({}, parts.item, done.item, { owned: done.owned });
        setBalance(done.balance);
        setStatus(parts.status, `Bought! You own ${num(done.owned)}.`, 'ok');
      } catch (e) {
        setStatus(parts.status, e.message, 'error');
        if (e.status === 0) { parts.button.disabled = false; return; }  // offline: the same key retries safely
        if (e.status === 409 && Number.isInteger(e.problem.price)) {  // the price moved: show it, ask again
          parts.item = Object.assign({}, parts.item, { price: e.problem.price });
        }
      }
      parts.confirming = false;
      parts.button.classList.remove('btn-confirm');
      paint(parts);
      refresh();  // everyone else's stock and our balance
    };

    const refresh = async () => {
      let shop;
      try {
        shop = await api('/api/shop');
      } catch (e) {
        setText('#shop-error', e.message);
        show('#shop-error', true);
        show('#shop-loading', false);
        return;
      }
      show('#shop-error', false);
      show('#shop-loading', false);
      me = shop.me;
      if (me) setBalance(me.balance);
      show('#shop-anon', !me);
      const seen = new Set();
      for (const item of shop.items) {
        seen.add(item.id);
        let parts = cards.get(item.id);
        if (!parts) {
          parts = card(item);
          cards.set(item.id, parts);
        }
        parts.item = item;
        paint(parts);
        list.append(parts.li);  // in the server's order
      }
      for (const [id, parts] of cards) {
        if (!seen.has(id)) { parts.li.remove(); cards.delete(id); }
      }
      if (!shop.items.length) {
        const li = document.createElement('li');
        li.className = 'muted';
        li.textContent = 'Nothing is for sale yet.';
        list.replaceChildren(li);
      }
      list.setAttribute('aria-busy', 'false');
    };

    await refresh();
    setInterval(() => { if (!document.hidden) refresh(); }, SHOP_REFRESH_MS);
    document.addEventListener('visibilitychange', () => { if (!document.hidden) refresh(); });
  }

  // ---------------------------------------------------------------- dispatch
  const PAGES = {
    index: pageIndex,
    login: pageLogin,
    me: pageMe,
    u: pageU,
    settings: pageSettings,
    customize: pageCustomize,
    leaderboard: pageLeaderboard,
    shop: pageShop,
    link: pageLink,
  };
  function start() {
    initHeader();
    const run = PAGES[document.body.dataset.page];
    if (run) {
      Promise.resolve()
        .then(run)
        .catch((e) => { console.error(e); }); // eslint-disable-line no-console
    }
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
