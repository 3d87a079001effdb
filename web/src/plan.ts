// The Train panel's plan: before training, what `tl plan` answers for this project's photos and these options (each
// rung's estimated time and expected gain, auto's choice and why, what the time budget rules out), with the rung and
// the time budget to train with. The server measures once per photos and options (seconds) and caches the answer.
import { api, type PlanRung, type PlanView, type Rung, type TrainRequestBody } from './api';
import { h } from './dom';
import { state } from './state';

const RUNG_CHOICES: [Rung | 'auto', string][] = [
  ['head', 'head: a new last layer (seconds)'],
  ['partial', 'partial: fine-tune the last blocks (minutes)'],
  ['full', 'full: fine-tune the whole network (longest)'],
  ['auto', 'auto: the plan picks within the time budget'],
];
const DEFAULT_BUDGET_MINUTES = 15;
/** Wait this long after the last change before asking (typing a budget, a burst of uploads). */
const DEBOUNCE_MS = 400;

let timer: number | undefined;
/** Numbers each request; an answer to an older one than the last is dropped. */
let asked = 0;
/** Drops the request on its way (a newer one replaces it, or a job starts). */
let inFlight: AbortController | undefined;
/** What the plan on show was asked for (project, class counts, options): a redraw with the same asks nothing. */
let shownKey = '';

const input = (id: string) => document.getElementById(id) as HTMLInputElement | HTMLSelectElement | null;

/** Rung and time budget (sent with Train), and where the plan is shown. */
export function planControls(): HTMLElement {
  const refresh = () => schedulePlan();
  return h(
    'div',
    { class: 'plan-panel' },
    h(
      'div',
      { class: 'options plan-options' },
      h(
        'label',
        {},
        'Rung',
        h(
          'select',
          { id: 'opt-rung', onchange: refresh },
          RUNG_CHOICES.map(([v, text]) => h('option', { value: v }, text)),
        ),
      ),
      h(
        'label',
        {},
        'Time budget (minutes, auto)',
        h('input', {
          id: 'opt-budget',
          type: 'number',
          min: 1,
          max: 1440,
          step: 1,
          value: DEFAULT_BUDGET_MINUTES,
          oninput: refresh,
        }),
      ),
    ),
    h('p', { id: 'plan-status', class: 'muted small', role: 'status' }),
    h('div', { id: 'plan-body' }),
  );
}

/** The rung picked (auto's choice when auto is picked). */
export const pickedRung = (): Rung | 'auto' => (input('opt-rung')?.value ?? 'head') as Rung | 'auto';

/** The time budget asked for, in seconds. */
function budgetSeconds(): number {
  const minutes = Number(input('opt-budget')?.value);
  return Math.round((Number.isFinite(minutes) && minutes > 0 ? minutes : DEFAULT_BUDGET_MINUTES) * 60);
}

/** The training request the panel's controls make (what Train sends; the plan asks with the budget too). */
export function trainRequest(): TrainRequestBody {
  const value = (id: string) => input(id)?.value ?? '';
  const strategy = pickedRung();
  const head = value('opt-head') || undefined;
  // The head applies to rung 1 (and to auto, when it picks rung 1); the budget to auto only (the option table).
  return {
    seed: Number(value('opt-seed') || 0),
    val: Number(value('opt-val') || 0.2),
    model: value('opt-backbone') || undefined,
    strategy,
    ...(strategy === 'head' || strategy === 'auto' ? { head } : {}),
    ...(strategy === 'auto' ? { timeBudget: budgetSeconds() } : {}),
  } as TrainRequestBody;
}

/** Ask for the plan again soon (the photos or the options changed); nothing while it cannot be trained. */
export function schedulePlan(): void {
  window.clearTimeout(timer);
  timer = window.setTimeout(() => void refreshPlan(), DEBOUNCE_MS);
}

/** Stop asking (a job started): an answer on its way is dropped. */
export function cancelPlan(): void {
  window.clearTimeout(timer);
  asked++;
  inFlight?.abort();
}

async function refreshPlan(): Promise<void> {
  const project = state.current?.project;
  const status = document.getElementById('plan-status');
  const body = document.getElementById('plan-body');
  if (!project || !status || !body) return;
  // The live stream redraws the panel on every project event; ask again only when what the plan depends on changed
  // (a redraw that asked every time flashed "measuring…" over a plan that was still right).
  const key = JSON.stringify([
    project.name,
    project.classes.map((c) => [c.name, c.images]),
    trainRequest(),
    budgetSeconds(),
  ]);
  if (key === shownKey && body.childElementCount > 0) return;
  const n = ++asked;
  inFlight?.abort();
  const request = (inFlight = new AbortController());
  status.textContent = 'Planning: measuring this machine on your photos (a few seconds the first time)…';
  body.setAttribute('aria-busy', 'true');
  try {
    const plan = await api.plan(
      project.name,
      { ...trainRequest(), timeBudget: budgetSeconds() } as TrainRequestBody,
      request.signal,
    );
    if (n !== asked || state.current?.project.name !== project.name) return;
    status.textContent = plan.cached
      ? `Plan for ${plan.backbone} (measured earlier in ${seconds(plan.computeMs / 1000)}).`
      : `Plan for ${plan.backbone}, measured now in ${seconds(plan.computeMs / 1000)}.`;
    body.replaceChildren(...renderPlan(plan));
    shownKey = key;
  } catch (err) {
    if (n !== asked) return;
    status.textContent = `No plan: ${(err as Error).message}`;
    body.replaceChildren();
    shownKey = '';
  } finally {
    if (n === asked) body.removeAttribute('aria-busy');
  }
}

/** "~40 s", "~3 min". */
export function seconds(s: number): string {
  return s < 90 ? `${Math.max(1, Math.round(s))} s` : `${Math.round(s / 60)} min`;
}

function estimate(r: PlanRung): string {
  if (!r.secondsRange || Math.round(r.secondsRange[1]) <= Math.round(r.secondsRange[0]))
    return `~${seconds(r.seconds)}`;
  return `~${seconds(r.secondsRange[0])} to ${seconds(r.secondsRange[1])}`;
}

function gain(r: PlanRung): string {
  if (r.rung === 'head') return 'the baseline';
  if (r.expectedGain === null) return 'not measured at this size';
  return `${r.expectedGain >= 0 ? '+' : ''}${r.expectedGain.toFixed(1)} pts`;
}

function renderPlan(plan: PlanView): HTMLElement[] {
  const picked = pickedRung();
  // auto tries partial then rung 3 when the budget holds both: each row it runs says so.
  const badge = plan.rungs.filter((r) => r.chosen).length > 1 ? 'auto tries it' : "auto's choice";
  const rows = plan.rungs.map((r) =>
    h(
      'tr',
      {
        'data-rung': r.rung,
        class: [r.chosen ? 'chosen' : '', r.rung === picked ? 'picked' : ''].filter(Boolean).join(' ') || undefined,
      },
      h(
        'th',
        { scope: 'row' },
        r.rung,
        r.chosen ? h('span', { class: 'badge', 'data-testid': 'auto-choice' }, badge) : '',
      ),
      h('td', { class: 'what' }, r.trains),
      h('td', {}, estimate(r)),
      h('td', {}, gain(r)),
      h('td', { class: r.fitsBudget ? 'fits' : 'over' }, r.fitsBudget ? 'yes' : 'no'),
    ),
  );
  const out: HTMLElement[] = [
    h(
      'div',
      { class: 'scroll-x' },
      h(
        'table',
        { id: 'plan-table', class: 'plan-table' },
        h('caption', {}, `What each rung would take here (${seconds(plan.timeBudget)} budget)`),
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            h('th', { scope: 'col' }, 'Rung'),
            h('th', { scope: 'col' }, 'What it trains'),
            h('th', { scope: 'col' }, 'Estimate'),
            h('th', { scope: 'col' }, 'Expected gain'),
            h('th', { scope: 'col' }, 'Fits the budget?'),
          ),
        ),
        h('tbody', {}, rows),
      ),
    ),
    h('p', { id: 'plan-reason', class: 'plan-reason' }, h('strong', {}, `auto picks ${plan.choice}: `), plan.reason),
  ];
  if (plan.overBudget.length)
    out.push(
      h(
        'p',
        { id: 'plan-over-budget', class: 'muted small' },
        `The ${seconds(plan.timeBudget)} budget rules out ${plan.overBudget.join(' and ')}${
          plan.blockedByBudget
            ? `; ${plan.blockedByBudget.rung} is expected to gain more (+${plan.blockedByBudget.gain.toFixed(1)} pts): raise the budget to ~${seconds(plan.blockedByBudget.seconds)} or pick it.`
            : '.'
        }`,
      ),
    );
  if (plan.domain)
    out.push(h('p', { id: 'plan-domain', class: 'muted small' }, `Your photos: ${plan.domain.summary}.`));
  if (plan.backboneAdvice) out.push(h('p', { class: 'muted small' }, plan.backboneAdvice));
  return out;
}
