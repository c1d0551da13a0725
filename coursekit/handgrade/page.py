"""The grading page: one HTML document with its style and script, loading nothing from elsewhere.

The page reads a question's board (:mod:`coursekit.handgrade.board`) as JSON and posts decisions
back (:mod:`coursekit.handgrade.handlers`). It shows one group (or, answer by answer, one answer)
at a time, the rubric beside it, and a status line that says what each action did.

Keys: 1–9 and 0 tick rubric items; Enter saves and goes on to the next; n / → next, p / ← previous;
u the next with an ungraded answer; g answer groups or one by one; c the comment; s shows or
hides student ids; Esc leaves the comment box (Ctrl+Enter saves from it).
"""

from __future__ import annotations

import html
import json

STYLE = """
:root { --border: #e0e0e0; --brand: #1976d2; --ok: #388e3c; --bad: #d32f2f; --muted: #616161; }
* { box-sizing: border-box; }
body { margin: 0; font-family: system-ui, -apple-system, "Segoe UI", "Noto Sans CJK SC", "Microsoft YaHei", sans-serif;
       font-size: 14px; color: #212121; background: #fafafa; }
header { display: flex; gap: 12px; align-items: center; padding: 8px 16px; background: #fff;
         border-bottom: 1px solid var(--border); position: sticky; top: 0; z-index: 2; }
header h1 { font-size: 16px; margin: 0 12px 0 0; }
select, button, input, textarea { font: inherit; }
button { border: 1px solid var(--border); background: #fff; border-radius: 2px; padding: 4px 10px; cursor: pointer; }
button.primary { background: var(--brand); border-color: var(--brand); color: #fff; }
button:disabled { opacity: .5; cursor: default; }
.progress { flex: 1; display: flex; align-items: center; gap: 8px; color: var(--muted); }
.bar { flex: 1; max-width: 240px; height: 6px; background: var(--border); border-radius: 3px; overflow: hidden; }
.bar > div { height: 100%; background: var(--ok); }
main { display: grid; grid-template-columns: minmax(0, 1fr) 420px; gap: 16px; padding: 16px; }
.panel { background: #fff; border: 1px solid var(--border); padding: 12px 16px; }
.prompt { color: var(--muted); border-left: 3px solid var(--border); padding-left: 8px; margin-bottom: 8px; }
.answer { border: 1px solid var(--border); margin: 8px 0; padding: 8px 12px; background: #fff; }
.answer.lead { border-color: var(--brand); }
.answer .who { display: flex; gap: 8px; align-items: center; color: var(--muted); font-size: 12px; }
.answer .body { margin-top: 4px; line-height: 1.6; }
.badge { padding: 1px 6px; border-radius: 8px; font-size: 12px; background: #eee; }
.badge.graded { background: #e8f5e9; color: var(--ok); }
.badge.adjusted, .badge.other { background: #fff3e0; color: #e65100; }
.badge.ungraded { background: #e3f2fd; color: var(--brand); }
.item { display: grid; grid-template-columns: 22px 26px 52px minmax(0, 1fr) auto; gap: 4px; align-items: start;
        padding: 4px 0; border-bottom: 1px dashed var(--border); }
.item.wrong .pts { color: var(--bad); }
.item .pts { font-weight: 600; color: var(--ok); }
.key { font-family: monospace; color: var(--muted); }
.edit-points { display: none; gap: 4px; }
.item.editing .edit-points { display: flex; grid-column: 2 / 6; }
textarea { width: 100%; min-height: 64px; margin-top: 8px; }
#message { min-height: 20px; margin: 8px 0; }
#message.error { color: var(--bad); } #message.ok { color: var(--ok); }
.nav { display: flex; gap: 8px; margin-top: 8px; flex-wrap: wrap; }
.hint { color: var(--muted); font-size: 12px; margin-top: 8px; }
math { font-family: "Latin Modern Math", "STIX Two Math", "Cambria Math", "DejaVu Math TeX Gyre", math; }
.ids-hidden .sid { display: none; }
"""

SCRIPT = r"""
const CONFIG = JSON.parse(document.getElementById('handgrade-config').textContent);
const state = { board: null, mode: 'group', index: 0, ticked: new Set(), selected: new Set(), showIds: false };
const $ = (sel) => document.querySelector(sel);

function xsrf() {
  const m = document.cookie.match('(^|;)\\s*_xsrf\\s*=\\s*([^;]+)');
  return m ? decodeURIComponent(m[2]) : '';
}
async function api(path, body) {
  // the XSRF header on GETs too: on JupyterHub a cookie-authenticated fetch without it is sent to log in again
  const opts = body === undefined ? { headers: { 'X-XSRFToken': xsrf() } } : { method: 'POST',
    body: JSON.stringify(body), headers: { 'Content-Type': 'application/json', 'X-XSRFToken': xsrf() } };
  const response = await fetch(CONFIG.api + path, { credentials: 'same-origin', ...opts });
  let data = {};
  try { data = await response.json(); } catch (e) { data = { error: response.status + ' ' + response.statusText }; }
  return { ok: response.ok, status: response.status, data };
}
function say(text, kind) { const m = $('#message'); m.textContent = text; m.className = kind || ''; }
function units() {
  const b = state.board;
  if (state.mode === 'group') return b.groups.map((g) => ({ kind: g.kind, members: g.members }));
  const order = [];
  b.groups.forEach((g) => g.members.forEach((s) => order.push({ kind: 'single', members: [s] })));
  return order;
}
function leadingTicks(members) {
  const counts = {};
  members.forEach((s) => { const a = state.board.answers[s];
    if (a.state === 'graded') { const k = a.ticked.join(','); counts[k] = (counts[k] || 0) + 1; } });
  let best = null, n = 0;
  Object.entries(counts).forEach(([k, c]) => { if (c > n) { best = k; n = c; } });
  return best === null ? null : (best ? best.split(',') : []);
}
function startUnit() {
  const unit = units()[state.index];
  state.ticked = new Set(); state.selected = new Set();
  if (!unit) return;
  const answers = state.board.answers;
  if (unit.members.length === 1) {
    const a = answers[unit.members[0]];
    a.ticked.forEach((i) => state.ticked.add(i));
    state.selected.add(unit.members[0]);
    $('#comment').value = a.comment || '';
    return;
  }
  const lead = leadingTicks(unit.members);
  (lead || []).forEach((i) => state.ticked.add(i));
  const leadKey = (lead || []).join(',');
  unit.members.forEach((s) => { const a = answers[s];
    if (a.state === 'ungraded' || (a.state === 'graded' && a.ticked.join(',') === leadKey)) state.selected.add(s); });
  $('#comment').value = '';
}
function kindLabel(unit, k, n) {
  const size = unit.members.length;
  if (unit.kind === 'blank') return '空白答案（' + size + ' 份）';
  if (unit.kind === 'copied') return '照抄题目的答案（' + size + ' 份）';
  if (unit.kind === 'unreadable') return '读不到的答案（' + size + ' 份，没有评测过的笔记本）';
  if (unit.kind === 'single') return '第 ' + (k + 1) + ' 份 / 共 ' + n + ' 份';
  return '第 ' + (k + 1) + ' 组 / 共 ' + n + ' 组（' + size + ' 份相似的答案）';
}
const STATE_TEXT = { ungraded: '未评', graded: '已评', adjusted: '分数在 formgrader 中改过', other: '在 formgrader 中评过',
                     unreadable: '读不到' };
function renderAnswers() {
  const all = units(), unit = all[state.index], box = $('#answers');
  box.innerHTML = '';
  if (!unit) { $('#unit-title').textContent = '这道题没有答案'; return; }
  $('#unit-title').textContent = kindLabel(unit, state.index, all.length);
  unit.members.forEach((s, k) => {
    const a = state.board.answers[s];
    const div = document.createElement('div');
    div.className = 'answer' + (k === 0 ? ' lead' : '');
    div.dataset.student = s;
    const who = document.createElement('div'); who.className = 'who';
    if (unit.members.length > 1) {
      const box2 = document.createElement('input'); box2.type = 'checkbox'; box2.className = 'include';
      box2.checked = state.selected.has(s);
      box2.addEventListener('change', () => { box2.checked ? state.selected.add(s) : state.selected.delete(s); renderRubric(); });
      who.appendChild(box2);
    }
    const name = document.createElement('span'); name.className = 'name';
    name.innerHTML = '答案 #' + a.number + ' <span class="sid">· ' + escapeHtml(s) + '</span>';
    who.appendChild(name);
    const badge = document.createElement('span'); badge.className = 'badge ' + a.state;
    badge.textContent = STATE_TEXT[a.state] + (a.score !== null && a.score !== undefined ? '：' + a.score + ' 分' : '');
    who.appendChild(badge);
    if (a.ticked.length) { const t = document.createElement('span'); t.textContent = '[' + a.ticked.join(' ') + ']'; who.appendChild(t); }
    if (unit.members.length > 1) {
      const solo = document.createElement('button'); solo.className = 'solo'; solo.textContent = '单独评分';
      solo.addEventListener('click', () => gradeAlone(s)); who.appendChild(solo);
    }
    div.appendChild(who);
    const body = document.createElement('div'); body.className = 'body'; body.innerHTML = a.html || '<em>（空白）</em>';
    div.appendChild(body);
    if (a.comment && unit.members.length > 1) { const c = document.createElement('div'); c.className = 'hint';
      c.textContent = '评语：' + a.comment; div.appendChild(c); }
    box.appendChild(div);
  });
}
function escapeHtml(t) { const d = document.createElement('div'); d.textContent = t; return d.innerHTML; }
function score() {
  const r = state.board.rubric; let total = 0;
  r.items.forEach((i) => { if (state.ticked.has(i.id)) total += i.points; });
  return Math.min(Math.max(total, 0), r.max_points);
}
function renderRubric() {
  const r = state.board.rubric, list = $('#items');
  list.innerHTML = '';
  r.items.forEach((item, k) => {
    const row = document.createElement('div'); row.className = 'item' + (item.wrong ? ' wrong' : '');
    row.dataset.item = item.id;
    const box = document.createElement('input'); box.type = 'checkbox'; box.className = 'tick'; box.checked = state.ticked.has(item.id);
    box.addEventListener('change', () => toggle(item.id));
    const key = document.createElement('span'); key.className = 'key'; key.textContent = k < 10 ? String((k + 1) % 10) : '';
    const pts = document.createElement('span'); pts.className = 'pts';
    pts.textContent = (item.points > 0 ? '+' : item.points < 0 ? '−' : '') + Math.abs(item.points);
    const text = document.createElement('span'); text.innerHTML = '<b>' + item.id + '</b> ' + item.html;
    const edit = document.createElement('button'); edit.className = 'change-points'; edit.textContent = '改分';
    edit.addEventListener('click', () => { row.classList.add('editing'); row.querySelector('input.points').focus(); });
    const form = document.createElement('div'); form.className = 'edit-points';
    form.innerHTML = '<input class="points" type="number" step="0.5" value="' + item.points + '"><button class="save-points">确定</button><button class="cancel-points">取消</button>';
    form.querySelector('.save-points').addEventListener('click', () => changePoints(item.id, form.querySelector('input').value));
    form.querySelector('.cancel-points').addEventListener('click', () => row.classList.remove('editing'));
    [box, key, pts, text, edit, form].forEach((e) => row.appendChild(e));
    list.appendChild(row);
  });
  const n = state.selected.size;
  $('#score').textContent = '得分：' + score() + ' / ' + r.max_points;
  $('#save').textContent = n > 1 ? '给选中的 ' + n + ' 份答案评分（Enter）' : '保存（Enter）';
  $('#save').disabled = n === 0;
  $('#problems').textContent = r.problems.join('；');
}
function renderProgress() {
  const p = state.board.progress;
  $('#progress-text').textContent = '已评 ' + p.graded + ' / ' + p.total;
  $('#progress-bar').style.width = (p.total ? 100 * p.graded / p.total : 0) + '%';
  $('#mode').textContent = state.mode === 'group' ? '按组评分（g）' : '逐份评分（g）';
}
function render() { renderProgress(); renderAnswers(); renderRubric(); }
function toggle(id) { state.ticked.has(id) ? state.ticked.delete(id) : state.ticked.add(id); renderRubric(); }
async function load(keep) {
  const result = await api('/' + CONFIG.assignment + '/' + CONFIG.question);
  if (!result.ok) { say(result.data.error || '读取失败', 'error'); return false; }
  state.board = result.data;
  document.title = '按题评分 · ' + CONFIG.assignment + ' · ' + CONFIG.question;
  $('#prompt').innerHTML = state.board.rubric.prompt_html;
  if (!keep) startUnit();
  render();
  $('body').dataset.loaded = String(Date.now());
  return true;
}
function go(delta) {
  const n = units().length; if (!n) return;
  state.index = Math.min(Math.max(state.index + delta, 0), n - 1); startUnit(); render();
}
function nextUngraded() {
  const all = units();
  for (let k = 1; k <= all.length; k++) {
    const j = (state.index + k) % all.length;
    if (all[j].members.some((s) => state.board.answers[s].state === 'ungraded')) { state.index = j; startUnit(); render(); return; }
  }
  say('这道题的答案都评完了', 'ok');
}
function gradeAlone(student) {
  state.mode = 'single';
  state.index = units().findIndex((u) => u.members[0] === student);
  startUnit(); render();
  say('单独评分：答案 #' + state.board.answers[student].number + '，保存只改这一份', 'ok');
}
async function save() {
  const decisions = [...state.selected].map((s) => ({ student: s, version: state.board.answers[s].version }));
  if (!decisions.length) return;
  const body = { decisions, ticked: [...state.ticked], comment: $('#comment').value };
  const result = await api('/' + CONFIG.assignment + '/' + CONFIG.question + '/grade', body);
  if (!result.ok) {
    const ticked = new Set(state.ticked), comment = $('#comment').value, selected = new Set(state.selected);
    await load(true);
    state.ticked = ticked; state.selected = selected; $('#comment').value = comment; render();
    say((result.data.error || '保存失败') + (result.status === 409 ? '（页面已刷新，你勾选的评分项还在）' : ''), 'error');
    return;
  }
  const n = decisions.length;
  await load(true);
  say('已保存 ' + n + ' 份答案：' + result.data.score + ' 分', 'ok');
  const all = units();
  if (state.index < all.length - 1) { state.index += 1; startUnit(); render(); } else { startUnit(); render(); }
}
async function changePoints(item, value) {
  const points = Number(value);
  if (value === '' || Number.isNaN(points)) { say('请输入一个数字', 'error'); return; }
  const result = await api('/' + CONFIG.assignment + '/' + CONFIG.question + '/points',
                           { item, points, rubric_version: state.board.rubric.version });
  const ticked = new Set(state.ticked);
  await load(true);
  state.ticked = ticked; renderRubric();
  say(result.ok ? result.data.message : (result.data.error || '改分失败'), result.ok ? 'ok' : 'error');
}
function typing(e) { return e.target && (e.target.tagName === 'TEXTAREA' || e.target.tagName === 'INPUT' && e.target.type !== 'checkbox'); }
document.addEventListener('keydown', (e) => {
  if (!state.board) return;
  if (typing(e)) {
    if (e.key === 'Escape') e.target.blur();
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey) && e.target.id === 'comment') { e.preventDefault(); save(); }
    return;
  }
  const items = state.board.rubric.items;
  if (/^[0-9]$/.test(e.key)) { const k = e.key === '0' ? 9 : Number(e.key) - 1; if (items[k]) toggle(items[k].id); e.preventDefault(); }
  else if (e.key === 'Enter') { e.preventDefault(); save(); }
  else if (e.key === 'n' || e.key === 'ArrowRight') go(1);
  else if (e.key === 'p' || e.key === 'ArrowLeft') go(-1);
  else if (e.key === 'u') nextUngraded();
  else if (e.key === 'g') { state.mode = state.mode === 'group' ? 'single' : 'group'; state.index = 0; startUnit(); render(); }
  else if (e.key === 'c') { e.preventDefault(); $('#comment').focus(); }
  else if (e.key === 's') toggleIds();
});
function toggleIds() { state.showIds = !state.showIds; document.body.classList.toggle('ids-hidden', !state.showIds);
  $('#show-ids').textContent = state.showIds ? '隐藏学号（s）' : '显示学号（s）'; }
$('#save').addEventListener('click', save);
$('#next').addEventListener('click', () => go(1));
$('#prev').addEventListener('click', () => go(-1));
$('#next-ungraded').addEventListener('click', nextUngraded);
$('#mode').addEventListener('click', () => { state.mode = state.mode === 'group' ? 'single' : 'group'; state.index = 0; startUnit(); render(); });
$('#show-ids').addEventListener('click', toggleIds);
$('#question').addEventListener('change', (e) => { window.location.href = e.target.value; });
load(false);
"""


def _document(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>\n{body}\n</html>\n")


def question_page(base: str, assignment: str, question: str, questions: list[dict]) -> str:
    """The page of one question; `base` is the extension's URL (…/coursekit/handgrade), `questions`
    the list for the question menu (assignment, question, graded, total)."""
    config = json.dumps({"api": f"{base}/api", "assignment": assignment, "question": question}).replace("</", "<\\/")
    options = "".join(
        f'<option value="{html.escape(base)}/{html.escape(q["assignment"])}/{html.escape(q["question"])}"'
        f'{" selected" if (q["assignment"], q["question"]) == (assignment, question) else ""}>'
        f'{html.escape(q["assignment"])} · {html.escape(q["question"])}（已评 {q["graded"]}/{q["total"]}）</option>'
        for q in questions)
    body = f"""<body class="ids-hidden">
<header><h1>按题评分</h1><select id="question" aria-label="题目">{options}</select>
<div class="progress"><span id="progress-text"></span><div class="bar"><div id="progress-bar"></div></div></div>
<button id="mode"></button><button id="show-ids">显示学号（s）</button></header>
<main><section class="panel"><div id="prompt" class="prompt"></div><h2 id="unit-title"></h2>
<div id="answers"></div></section>
<aside class="panel"><h2>评分项</h2><div id="problems" class="hint"></div><div id="items"></div>
<div id="score"></div><textarea id="comment" placeholder="评语（可选，c）"></textarea>
<div id="message" role="status"></div>
<div class="nav"><button id="save" class="primary">保存（Enter）</button><button id="prev">上一个（p）</button>
<button id="next">下一个（n）</button><button id="next-ungraded">下一个未评（u）</button></div>
<div class="hint">数字键 1–9、0 勾选评分项；Enter 保存并到下一个；g 切换按组 / 逐份；s 显示学号；Esc 离开评语框，Ctrl+Enter 在评语框里保存。</div>
</aside></main>
<script type="application/json" id="handgrade-config">{config}</script>
<script>{SCRIPT}</script>
</body>"""
    return _document(f"按题评分 · {assignment} · {question}", body)


def index_page(base: str, questions: list[dict]) -> str:
    """The list of hand-graded questions with their progress."""
    rows = "".join(
        f'<tr><td>{html.escape(q["assignment"])}</td><td><a href="{html.escape(base)}/{html.escape(q["assignment"])}/'
        f'{html.escape(q["question"])}">{html.escape(q["question"])}</a></td><td>{q["graded"]} / {q["total"]}</td></tr>'
        for q in questions)
    body = (f'<body><header><h1>按题评分</h1></header><main style="display:block"><div class="panel">'
            f'<p>选一道思考题：每次一屏，按相似程度分组；评分写入 nbgrader 的成绩册（formgrader 里看得到）。</p>'
            f'<table id="questions"><tr><th>作业</th><th>题目</th><th>已评 / 答案</th></tr>{rows}</table>'
            f'</div></main></body>')
    return _document("按题评分", body)
