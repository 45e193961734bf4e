// The search page of kzsearch serve. Everything from the index is put in
// the page as text (textContent, createElement), never as HTML; the server's
// Content-Security-Policy forbids inline scripts besides. The page's state
// is its address: /?q=&offset=&since=&until=&sort=&doc=ID, so that a search
// or a document can be bookmarked, shared, and gone back to.
'use strict';

const PAGE = 10;
const MAX_DEPTH = 10000; // offset + n the server serves at most (cmd_serve.c)
const FACETS = ['source', 'date:year'];
const $ = (id) => document.getElementById(id);
const enc = new TextEncoder();
const dec = new TextDecoder();
let generation = 0; // the latest render; older answers are dropped

function el(tag, props, ...children) {
  const e = document.createElement(tag);
  if (props) for (const [k, v] of Object.entries(props)) {
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
}

// text with the byte spans [[start, end], ...] (UTF-8 offsets, as the API
// gives them) in <mark>, appended to parent.
function appendMarked(parent, text, spans) {
  const bytes = enc.encode(text);
  let at = 0;
  for (const [s, e] of spans || []) {
    if (s < at || e > bytes.length || e <= s) continue;
    if (s > at) parent.append(dec.decode(bytes.subarray(at, s)));
    parent.append(el('mark', { text: dec.decode(bytes.subarray(s, e)) }));
    at = e;
  }
  if (at < bytes.length) parent.append(dec.decode(bytes.subarray(at)));
  return parent;
}

// ------------------------------------------------------------------ state

function readState() {
  const p = new URLSearchParams(location.search);
  return {
    q: p.get('q') || '', since: p.get('since') || '', until: p.get('until') || '', sort: p.get('sort') || '',
    offset: Math.max(0, parseInt(p.get('offset') || '0', 10) || 0), doc: p.get('doc'),
  };
}

function stateUrl(st) {
  const p = new URLSearchParams();
  for (const k of ['q', 'since', 'until', 'sort']) if (st[k]) p.set(k, st[k]);
  if (st.offset) p.set('offset', String(st.offset));
  if (st.doc != null) p.set('doc', st.doc);
  const s = p.toString();
  return '/' + (s ? '?' + s : '');
}

function go(st, marker) {
  history.pushState(marker || null, '', stateUrl(st));
  render();
}

function formState() {
  return { q: $('q').value.trim(), since: $('since').value.trim(), until: $('until').value.trim(),
           sort: $('sort').value, offset: 0, doc: null };
}

// ------------------------------------------------------------------ API

async function api(path) {
  const r = await fetch(path, { headers: { Accept: 'application/json' } });
  let body = null;
  try { body = await r.json(); } catch (e) { /* not JSON */ }
  if (!r.ok) {
    const err = new Error((body && body.message) || ('HTTP ' + r.status));
    err.column = body && body.column;
    throw err;
  }
  return body;
}

function setStatus(text, isError) {
  const s = $('status');
  s.className = isError ? 'error' : '';
  s.replaceChildren();
  if (Array.isArray(text)) for (const t of text) s.append(el('span', { class: 'note', text: t }));
  else s.textContent = text || '';
}

// ------------------------------------------------------------------ search

// The field clause a facet value adds to the query: source:"radio free europe".
function clause(field, value) { return field + ':"' + value.replace(/"/g, ' ') + '"'; }

function hasClause(q, c) { return (' ' + q + ' ').includes(' ' + c + ' '); }

function toggleClause(q, c) {
  if (hasClause(q, c)) return (' ' + q + ' ').replace(' ' + c + ' ', ' ').trim().replace(/\s+/g, ' ');
  return (q ? q + ' ' : '') + c;
}

function renderFacets(st, facets) {
  const box = $('facets');
  box.replaceChildren();
  if (!facets) return;
  for (const [name, values] of Object.entries(facets)) {
    if (!values.length) continue;
    const isYear = name.endsWith(':year');
    const field = name.split(':')[0];
    const list = el('ul');
    for (const v of values) {
      const pressed = isYear ? st.since === v.value && st.until === v.value
                             : hasClause(st.q, clause(field, v.value));
      list.append(el('li', null, el('button', {
        type: 'button', 'aria-pressed': String(pressed), 'data-facet': name, 'data-value': v.value,
        onclick: () => {
          const next = { ...st, offset: 0, doc: null };
          if (isYear) {
            next.since = pressed ? '' : v.value;
            next.until = pressed ? '' : v.value;
          } else {
            next.q = toggleClause(st.q, clause(field, v.value));
          }
          go(next);
        },
      }, el('span', { class: 'value', text: v.value }), el('span', { class: 'count', text: String(v.docs) }))));
    }
    box.append(el('section', null, el('h2', { text: isYear ? field + ' (year)' : field }), list));
  }
}

function metaLine(h) {
  const m = h.metadata || {};
  const first = (v) => Array.isArray(v) ? v[0] : v;
  const line = el('div', { class: 'meta' });
  if (m.date) line.append(el('span', { class: 'date', text: first(m.date).slice(0, 10) }));
  if (m.source) line.append(el('span', { class: 'source', text: [].concat(m.source).join(', ') }));
  const url = first(m.url);
  if (url && /^https?:\/\//i.test(url)) {
    line.append(el('a', { class: 'url', href: url, rel: 'noopener noreferrer nofollow', target: '_blank',
                          text: url.replace(/^https?:\/\//i, '').slice(0, 80) }));
  } else {
    line.append(el('span', { class: 'id', text: h.id }));
  }
  return line;
}

function renderHit(st, h) {
  const docUrl = stateUrl({ ...st, doc: h.id });
  const a = el('a', { href: docUrl, class: 'hit-link' });
  if (h.title) appendMarked(a, h.title, h.title_highlights); else a.textContent = h.id;
  a.addEventListener('click', (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button) return;
    ev.preventDefault();
    sessionStorage.setItem('scroll:' + stateUrl(st), String(window.scrollY));
    go({ ...st, doc: h.id }, { fromResults: true });
  });
  const li = el('li', { class: 'hit' }, el('h2', null, a), metaLine(h));
  if (h.snippet) {
    const p = el('p', { class: 'snippet' });
    if (h.cut_before) p.append('…');
    appendMarked(p, h.snippet.replace(/[\n\r\t]/g, ' '), (h.highlights || []).map((x) => x.snippet));
    if (h.cut_after) p.append('…');
    li.append(p);
  }
  if (h.similar && h.similar.length) {
    const names = h.similar.slice(0, 5).map((s) => s.label || s.id).join(', ');
    li.append(el('p', { class: 'similar',
                        text: `+${h.similar.length} similar: ${names}${h.similar.length > 5 ? ', …' : ''}` }));
  }
  return li;
}

// more: whether a hit follows this page. The total cannot say: it counts the
// near-duplicates folded under hits, so pages of hits may end well before it.
function renderPager(st, more) {
  const nav = $('pager');
  nav.replaceChildren();
  if (!more && !st.offset) return;
  const link = (label, offset, rel) => {
    const a = el('a', { href: stateUrl({ ...st, offset, doc: null }), rel, text: label });
    a.addEventListener('click', (ev) => {
      if (ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button) return;
      ev.preventDefault();
      go({ ...st, offset, doc: null });
      window.scrollTo(0, 0);
    });
    return a;
  };
  const page = Math.floor(st.offset / PAGE) + 1;
  nav.append(st.offset > 0 ? link('← Previous', Math.max(0, st.offset - PAGE), 'prev')
                           : el('span', { class: 'off', text: '← Previous' }));
  nav.append(el('span', { class: 'page', text: more ? 'Page ' + page : 'Page ' + page + ' of ' + page }));
  nav.append(more ? link('Next →', st.offset + PAGE, 'next') : el('span', { class: 'off', text: 'Next →' }));
}

async function renderSearch(st, mine) {
  $('doc-view').hidden = true;
  $('results-view').hidden = false;
  document.title = st.q ? st.q + ' – kzsearch' : 'kzsearch';
  if (!st.q && !st.since && !st.until) {
    $('hits').replaceChildren();
    $('facets').replaceChildren();
    $('pager').replaceChildren();
    setStatus('Type a search and press Enter. The ? button shows the query language.');
    return;
  }
  // One hit more than the page shows, to know whether a next page has any
  // (the server serves offset + n up to MAX_DEPTH).
  const n = Math.max(0, Math.min(PAGE + 1, MAX_DEPTH - st.offset));
  const p = new URLSearchParams({ q: st.q, n: String(n), offset: String(st.offset) });
  if (st.since) p.set('since', st.since);
  if (st.until) p.set('until', st.until);
  if (st.sort) p.set('sort', st.sort);
  for (const f of FACETS) p.append('facet', f);
  setStatus('Searching…');
  let r;
  try {
    r = await api('/api/search?' + p);
  } catch (e) {
    if (mine !== generation) return;
    $('hits').replaceChildren();
    $('pager').replaceChildren();
    $('facets').replaceChildren();
    setStatus(e.message, true);
    return;
  }
  if (mine !== generation) return;
  const more = r.hits.length > PAGE;
  r.hits = r.hits.slice(0, PAGE);
  const lines = [];
  if (r.fallback) lines.push('No document has all the words; showing documents with any of them.');
  const first = r.hits.length ? st.offset + 1 : 0;
  lines.push(r.total === 0 ? 'No documents match.'
    : `${first}–${st.offset + r.hits.length} of ${r.total} hit${r.total === 1 ? '' : 's'}` +
      (!r.fallback && r.total_all_words < r.total ? `, ${r.total_all_words} with every word` : '') +
      ` (${r.took_ms.toFixed(1)} ms)`);
  for (const n of r.notes || []) lines.push('Note: ' + n);
  setStatus(lines);
  const ol = $('hits');
  ol.replaceChildren();
  ol.start = st.offset + 1;
  for (const h of r.hits) {
    const boundary = r.all_words_hits ?? r.total_all_words; // ranks once near-duplicates are collapsed
    if (!r.fallback && r.total_all_words < r.total && h.rank === boundary + 1)
      ol.append(el('li', { class: 'separator', role: 'separator',
                           text: `${r.total - r.total_all_words} more with only some of the words` }));
    ol.append(renderHit(st, h));
  }
  renderFacets(st, r.facets);
  renderPager(st, more);
  const saved = sessionStorage.getItem('scroll:' + stateUrl(st));
  if (saved != null) {
    sessionStorage.removeItem('scroll:' + stateUrl(st));
    window.scrollTo(0, parseInt(saved, 10) || 0);
  }
}

// ------------------------------------------------------------------ a document

let marks = [], current = -1;

function showMatch(i) {
  if (!marks.length) return;
  if (current >= 0) marks[current].classList.remove('current');
  current = (i + marks.length) % marks.length;
  marks[current].classList.add('current');
  marks[current].scrollIntoView({ block: 'center' });
  $('match-count').textContent = `match ${current + 1} of ${marks.length}`;
}

async function renderDoc(st, mine) {
  $('results-view').hidden = true;
  $('doc-view').hidden = false;
  const back = { ...st, doc: null };
  $('back').href = stateUrl(back);
  $('doc-title').textContent = '';
  $('doc-meta').replaceChildren();
  $('doc-text').replaceChildren();
  $('match-nav').hidden = true;
  marks = [];
  current = -1;
  setStatus('Loading…');
  let d;
  try {
    d = await api('/api/doc/' + encodeURIComponent(st.doc) + (st.q ? '?q=' + encodeURIComponent(st.q) : ''));
  } catch (e) {
    if (mine === generation) setStatus(e.message, true);
    return;
  }
  if (mine !== generation) return;
  setStatus(d.truncated ? `Showing the first ${d.text.length} characters of a long document.` : '');
  document.title = (d.title || d.id) + ' – kzsearch';
  appendMarked($('doc-title'), d.title || d.id, d.title_highlights);
  const dl = $('doc-meta');
  const row = (k, v) => dl.append(el('dt', { text: k }), el('dd', null, v));
  row('id', d.id);
  for (const [k, v] of Object.entries(d.metadata || {})) {
    for (const one of [].concat(v)) {
      if (k === 'url' && /^https?:\/\//i.test(one))
        row(k, el('a', { href: one, rel: 'noopener noreferrer nofollow', target: '_blank', text: one }));
      else
        row(k, one);
    }
  }
  appendMarked($('doc-text'), d.text, d.highlights);
  marks = Array.from($('doc-text').querySelectorAll('mark'));
  if (marks.length) {
    $('match-nav').hidden = false;
    $('match-count').textContent = `${marks.length} match${marks.length === 1 ? '' : 'es'}`;
  }
  $('back').focus({ preventScroll: true });
  window.scrollTo(0, 0);
}

// ------------------------------------------------------------------ wiring

function render() {
  const st = readState();
  $('q').value = st.q;
  $('since').value = st.since;
  $('until').value = st.until;
  $('sort').value = st.sort;
  const mine = ++generation;
  if (st.doc != null) renderDoc(st, mine); else renderSearch(st, mine);
}

function backToResults() {
  const st = readState();
  if (st.doc == null) return;
  if (history.state && history.state.fromResults) history.back();
  else go({ ...st, doc: null });
}

$('search-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  go(formState());
});
for (const id of ['since', 'until']) $(id).addEventListener('change', () => go(formState()));
$('sort').addEventListener('change', () => go(formState()));
$('clear-filters').addEventListener('click', () => {
  $('since').value = '';
  $('until').value = '';
  $('sort').value = '';
  go(formState());
});
$('help-toggle').addEventListener('click', () => {
  const open = $('help').hidden;
  $('help').hidden = !open;
  $('help-toggle').setAttribute('aria-expanded', String(open));
});
$('back').addEventListener('click', (ev) => {
  if (ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button) return;
  ev.preventDefault();
  backToResults();
});
$('next-match').addEventListener('click', () => showMatch(current + 1));
$('prev-match').addEventListener('click', () => showMatch(current - 1));
window.addEventListener('popstate', render);

document.addEventListener('keydown', (ev) => {
  const typing = /^(INPUT|SELECT|TEXTAREA)$/.test(document.activeElement.tagName);
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  if (ev.key === 'Escape') {
    if (typing) { document.activeElement.blur(); return; }
    if (!$('help').hidden) { $('help-toggle').click(); return; }
    backToResults();
    return;
  }
  if (typing) return;
  const inDoc = !$('doc-view').hidden;
  if (ev.key === '/') {
    ev.preventDefault();
    $('q').focus();
    $('q').select();
  } else if (ev.key === '?') {
    $('help-toggle').click();
  } else if (inDoc && (ev.key === 'n' || ev.key === 'p')) {
    showMatch(current + (ev.key === 'n' ? 1 : -1));
  } else if (!inDoc && (ev.key === 'j' || ev.key === 'k')) {
    const links = Array.from(document.querySelectorAll('.hit-link'));
    if (!links.length) return;
    const at = links.indexOf(document.activeElement);
    const next = ev.key === 'j' ? Math.min(links.length - 1, at + 1) : Math.max(0, at < 0 ? 0 : at - 1);
    links[next].focus();
    ev.preventDefault();
  }
});

render();
if (!readState().q && readState().doc == null) $('q').focus();
