// Compile-time checks of pkg/segflow.d.ts (run by scripts/test.sh with `tsc --noEmit`).
// Lines marked @ts-expect-error must fail to type-check: if the generated types get
// looser, tsc reports the unused directive and the test fails.
import load, * as segflow from '../../pkg/segflow.js';

export async function correctUsage(): Promise<void> {
  await load();
  segflow.init({ writeKey: 'k', apiHost: 'http://127.0.0.1:8787/v1', flushAt: 10, urlFilter: (u) => u.split('?')[0] });
  segflow.init({ writeKey: 'k', requestTimeout: 5000, maxEventAgeDays: 0.5, basicAuth: true });
  segflow.identify('user-1');
  segflow.identify(42, { email: 'a@b.c', logins: { add: 1 }, tags: { append: ['x'] } }, { signature: 'sig' });
  segflow.identifyAnonymous();
  segflow.updateUser({ plan: { set_once: 'free', data_type: 'string' } });
  segflow.group('co-1', { name: 'Acme' }, { membership: { role: 'admin' } });
  segflow.updateGroup({ seats: { subtract: 1 } });
  segflow.track('Clicked');
  segflow.track('Clicked', { at: new Date(), n: 1, nested: { ok: [1, 'two', null] } });
  segflow.page();
  segflow.page('Home', { section: 'top' });
  segflow.alias('new-id');
  const state: segflow.UserState | null = segflow.user();
  if (state) {
    const anon: string = state.anonymousId;
    const maybeUser: string | null = state.userId;
    void anon; void maybeUser;
  }
  // @ts-expect-error user() is null until segflow has loaded
  const notYet: segflow.UserState = segflow.user();
  void notYet;
  const started: Promise<void> = segflow.start('tour', { once: true });
  await started;
  const identified: boolean = segflow.isIdentified();
  void identified;
  segflow.setStreaming(false);
  const flushed: segflow.FlushResult = await segflow.flush();
  const pending: number = flushed.pending;
  void pending;
  segflow.on('delivered', (e) => { const n: number = e.count; const ids: string[] = e.messageIds; void n; void ids; });
  segflow.on('dropped', (e) => { const r: 'queue_full' | 'rejected' | 'expired' | 'invalid' = e.reason; void r; });
  segflow.on('error', (e) => { const c: string = e.code; void c; });
  segflow.on('checklistEnded', (e) => { const id: string = e.checklist.id; const r: segflow.ChecklistEndReason = e.checklist_end_reason; void id; void r; });
  segflow.on('checklistTaskCompleted', (e) => { const t: string = e.checklist_task_id; void t; });
  const checklists: segflow.Content = {
    version: 1,
    checklists: [{
      id: 'setup', name: 'Set up', start: [{ all: [{ url: '/app*' }, { user: 'plan', op: 'equals', value: 'pro' }] }],
      tasks: [
        { id: 'a', name: 'A' },
        { id: 'b', name: 'B', action: { type: 'start_flow', flow: 'tour' }, complete_when: [{ flow: 'tour', state: 'completed' }] },
        { id: 'c', name: 'C', complete_when: [{ clicked: true }, { event: 'x', count: 2, where: [{ property: 'n', op: 'greater_than', value: 1 }] }] },
      ],
    }],
  };
  void segflow.loadContent(checklists);
  const flows: segflow.Content = {
    version: 1,
    flows: [{
      id: 'tour', name: 'Tour', frequency: 'unlimited', priority: 5, start_delay_seconds: 1.5,
      start: [{ any: [{ url: '/app*' }, { event: 'signed_up', count: 2 }, { element: '#new' }] }],
      steps: [{ id: 's', type: 'modal' }],
    }],
  };
  void segflow.loadContent(flows);
  segflow.init({ writeKey: 'k', apiHost: 'https://events.example.com/v1', stateHost: 'https://events.example.com/v1' });
  segflow.identify('u1', { plan: 'pro' }, { signature: 'a'.repeat(64) });
  segflow.on('flowStarted', (e) => { const r: segflow.FlowStartReason = e.flow_start_reason; if (r === 'condition') { /* a general start condition */ } });
  segflow.on('flowEnded', (e) => { const id: string = e.flow.id; void id; });
  segflow.on('flowStepSeen', (e) => { const id: string = e.flow.id; void id; });
  segflow.endChecklist();
  segflow.reset();
}

export function wrongUsage(): void {
  // @ts-expect-error writeKey is required
  segflow.init({ apiHost: 'x' });
  // @ts-expect-error flushAt is a number
  segflow.init({ writeKey: 'k', flushAt: '10' });
  // @ts-expect-error unknown option
  segflow.init({ writeKey: 'k', flushEvery: 10 });
  // @ts-expect-error user ids are strings or numbers
  segflow.identify({ id: 1 });
  // @ts-expect-error event name is required
  segflow.track();
  // @ts-expect-error properties cannot hold functions
  segflow.track('x', { f: () => 1 });
  // @ts-expect-error unknown event
  segflow.on('delivery', () => {});
  // @ts-expect-error updateUser needs traits
  segflow.updateUser();
  // @ts-expect-error the dropped payload has no `status` of type string
  segflow.on('dropped', (e) => { const s: string = e.status; void s; });
  // @ts-expect-error the dropped reason max_attempts no longer exists: retries never give up on a count
  segflow.on('dropped', (e) => { if (e.reason === 'max_attempts') { /* unreachable */ } });
  // @ts-expect-error requestTimeout is a number of ms
  segflow.init({ writeKey: 'k', requestTimeout: '10s' });
  // @ts-expect-error basicAuth is a boolean
  segflow.init({ writeKey: 'k', basicAuth: 'yes' });
  // @ts-expect-error flush() resolves to an object, not a number
  segflow.flush().then((n: number) => n);
  // @ts-expect-error setStreaming takes a boolean
  segflow.setStreaming('off');
  // @ts-expect-error stateHost is a URL string
  segflow.init({ writeKey: 'k', stateHost: true });
  // @ts-expect-error a flow's frequency is once, multiple or unlimited
  const badFlow: segflow.Flow = { id: 'f', name: 'F', frequency: 'always', steps: [{ id: 's', type: 'modal' }] };
  void badFlow;
  // @ts-expect-error checklist tasks need a name
  const bad: segflow.Checklist = { id: 'x', name: 'X', tasks: [{ id: 't' }] };
  void bad;
  // @ts-expect-error between takes two numbers
  const badCondition: segflow.Condition = { user: 'age', op: 'between', value: 3 };
  void badCondition;
  // @ts-expect-error equals compares with a string, number or boolean, not an object
  const badEquals: segflow.Condition = { user: 'plan', op: 'equals', value: { tier: 1 } };
  void badEquals;
  // @ts-expect-error checklistEnded's payload has no flow_id
  segflow.on('checklistEnded', (e) => { const f: string = e.flow_id; void f; });
}
