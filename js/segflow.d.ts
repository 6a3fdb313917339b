// Types of the segflow package (pkg/segflow.js, the loader; see js/loader.js).
// Written by hand: the loader's API is the union of the two wasm modules' APIs.
/** A trait or property value as Segment accepts it. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
/** A Userflow-style change operation on a stored attribute. */
export type AttributeChange =
  | { set: JsonValue; data_type?: DataType }
  | { set_once: JsonValue; data_type?: DataType }
  | { add: number | string; data_type?: DataType }
  | { subtract: number | string; data_type?: DataType }
  | { append: JsonValue; data_type?: DataType }
  | { prepend: JsonValue; data_type?: DataType }
  | { remove: JsonValue; data_type?: DataType };
/** Types an attribute change may coerce its value to. */
export type DataType = "string" | "boolean" | "number" | "datetime" | "list";
/** User or group traits: plain values or change operations. */
export type Traits = { [key: string]: JsonValue | AttributeChange | Date | undefined };
/** Event properties. */
export type Properties = { [key: string]: JsonValue | Date | undefined };
/** Options for `init`. */
export interface InitOptions {
  /** The write key of the Segment HTTP API source (required). */
  writeKey: string;
  /** Default `https://api.segment.io/v1`; any host, e.g. a first-party proxy or `http://127.0.0.1:8787/v1`. */
  apiHost?: string;
  /** Label for this environment (`production`, `staging`, ...); no `:` (it is part of storage keys). */
  environment?: string;
  /** Send once this many events are queued (at the end of the task that queued them: a burst of calls goes in one request). Default 20. */
  flushAt?: number;
  /** Send queued events at least this often, in ms. Default 1000. */
  flushInterval?: number;
  /** Queue bound by count; the oldest are dropped past it. Default 10000. */
  maxQueueEvents?: number;
  /** Queue bound by bytes, at least 32768 (one message at Segment's limit); the oldest are dropped past it. Default 2 MiB. */
  maxQueueBytes?: number;
  /** A request unanswered after this many ms is aborted and retried. Default 10000. */
  requestTimeout?: number;
  /** Events first queued longer ago than this (in days, fractions allowed) are dropped as `expired`. Default 7. */
  maxEventAgeDays?: number;
  /** Also send `Authorization: Basic` with each batch (a CORS preflight per batch cross-origin). Default false: the write key is in the body. */
  basicAuth?: boolean;
  /** Track property that carries the active group id, e.g. `company_id`. */
  companyEventProperty?: string;
  /** Send events to Segment. Default true. */
  stream?: boolean;
  /** Rewrites page URLs (and the referrer) before they leave the browser; if it throws or returns no string, only the origin is sent. */
  urlFilter?: (url: string) => string;
  /** Flow content (an object in the content schema) or the URL of a JSON document in it. */
  content?: Content | string;
  /** Emit `page_viewed` on load and on every navigation. Default true. */
  pageTracking?: boolean;
  /** Segment `integrations` object sent with every message. Default `{}`. */
  integrations?: { [destination: string]: boolean | { [key: string]: JsonValue } };
  /**
   * Follow analytics.js (`@segment/analytics-next`) on the page: registers
   * `analyticsPlugin()` on `window.analytics` now, or once the page assigns one that
   * has `register` (the snippet's stub or analytics-next). Default false.
   */
  listenToAnalyticsJs?: boolean;
  /**
   * A segflow collector's `/v1` (e.g. `https://events.example.com/v1`): once the user
   * is identified with a `signature`, their attributes and events the app's back end
   * sent to Segment (the collector's webhook) are read from `{stateHost}/state`, and
   * start conditions and checklist tasks see them beside the page's own.
   */
  stateHost?: string;
}
/** What `user()` returns. */
export interface UserState {
  userId: string | null;
  anonymousId: string;
  groupId: string | null;
  traits: { [key: string]: JsonValue };
  groupTraits: { [key: string]: JsonValue };
}
/** Payload of the `delivered` event. */
export interface DeliveredEvent { count: number; messageIds: string[] }
/** Payload of the `dropped` event. */
export interface DroppedEvent { count: number; messageIds: string[]; reason: "queue_full" | "rejected" | "expired" | "invalid"; status?: number }
/** What `flush()` resolves to: how many of the events it waited for are still queued (to be retried). */
export interface FlushResult { pending: number }
/**
 * Payload of the `error` event, and what a failed call throws: an Error whose
 * message begins "segflow: ", with a code: `delivery_failure` (events
 * dropped; with `reason` and `count`), `ui_unavailable` (the page would not let
 * segflow create its UI, so a flow step or checklist was not shown), or the code
 * a queued call would have thrown.
 */
export interface SegflowError extends Error { code: string; reason?: string; count?: number }
/** Properties every generated event carries (snake_case, as sent to Segment). */
export interface GeneratedEventBase { page_url: string; viewport_width: number; viewport_height: number; locale_code: string }
/** Properties of flow events; listeners also get `flow.id`, as Userflow.js's do. */
export interface FlowEvent extends GeneratedEventBase { flow_id: string; flow_name: string; flow_version_id: string | null; flow_version_number: number | null; flow: { id: string } }
/** Properties of step events. */
export interface FlowStepEvent extends FlowEvent { flow_step_id: string; flow_step_name: string | null; flow_step_number: number; flow_step_progress: number }
/** Why a flow started. */
export type FlowStartReason = "program" | "url" | "event" | "condition" | "action" | "session";
/** Why a flow ended. */
export type FlowEndReason = "user_closed" | "action" | "replaced" | "tooltip_target_missing" | "program" | "step_not_found" | "content_not_found" | "completed";
/** Events `on` and `off` take, with their payloads. */
export type SegflowEventMap = {
  delivered: DeliveredEvent; dropped: DroppedEvent; error: SegflowError;
  flowStarted: FlowEvent & { flow_start_reason: FlowStartReason };
  flowStepSeen: FlowStepEvent; flowCompleted: FlowEvent;
  flowEnded: FlowEvent & { flow_end_reason: FlowEndReason };
  tooltipTargetMissing: FlowStepEvent; pageViewed: GeneratedEventBase;
  checklistStarted: ChecklistEvent & { checklist_start_reason: ChecklistStartReason };
  checklistShown: ChecklistEvent; checklistHidden: ChecklistEvent;
  checklistTaskClicked: ChecklistTaskEvent; checklistTaskCompleted: ChecklistTaskEvent;
  checklistCompleted: ChecklistEvent;
  checklistEnded: ChecklistEvent & { checklist_end_reason: ChecklistEndReason };
};
/** Properties of checklist events; listeners also get `checklist.id`, as Userflow.js's do. */
export interface ChecklistEvent extends GeneratedEventBase { checklist_id: string; checklist_name: string; checklist_version_id: string | null; checklist_version_number: number | null; checklist: { id: string } }
/** Properties of checklist task events. */
export interface ChecklistTaskEvent extends ChecklistEvent { checklist_task_id: string; checklist_task_name: string }
/** Why a checklist started. */
export type ChecklistStartReason = "program" | "condition";
/** Why a checklist ended. */
export type ChecklistEndReason = "user_closed" | "completed" | "program" | "replaced" | "content_not_found";
/** An attribute or property test (see docs/CONTENT.md, Conditions). */
export type ConditionTest =
  | { op: "equals" | "not_equals"; value: string | number | boolean }
  | { op: "contains" | "not_contains" | "starts_with" | "ends_with" | "matches"; value: string }
  | { op: "greater_than" | "less_than"; value: number }
  | { op: "between"; value: [number, number] }
  | { op: "is_set" | "is_not_set" | "is_true" | "is_false" }
  | { op: "before" | "after"; value: string }
  | { op: "within_last_days"; value: number }
  | { op: "list_contains"; value: string | number | boolean | null };
/** A start or completion condition (see docs/CONTENT.md, Conditions). */
export type Condition =
  | { all: Condition[] } | { any: Condition[] }
  | { url: string }
  | ({ user: string } & ConditionTest) | ({ company: string } & ConditionTest)
  | { event: string; count?: number; within_days?: number; where?: ({ property: string } & ConditionTest)[] }
  | { flow: string; state: ContentState } | { checklist: string; state: ContentState }
  | { element: string };
/** A content history state a condition can ask for. */
export type ContentState = "seen" | "not_seen" | "completed" | "not_completed" | "active" | "not_active";
/** One checklist. */
export interface Checklist { id: string; name: string; version_id?: string; version_number?: number; title?: string; text?: string; tasks: ChecklistTask[]; start?: Condition[]; frequency?: "once" | "multiple" | "unlimited"; priority?: number; start_delay_seconds?: number; initial_display?: "expanded" | "collapsed"; completion_order?: "any" | "ordered"; dismissible?: boolean; dismiss_when_complete?: boolean; corner?: "bottom-right" | "bottom-left" | "top-right" | "top-left" }
/** One checklist task. */
export interface ChecklistTask { id: string; name: string; description?: string; action?: { type: "none" } | { type: "start_flow"; flow: string } | { type: "navigate"; url: string } | { type: "track"; event: string }; complete_when?: ({ clicked: true } | Condition)[] }
/** Flow and checklist content: see docs/CONTENT.md and docs/content-schema.json. */
export interface Content { version: 1; flows?: Flow[]; checklists?: Checklist[] }
/** One flow. */
export interface Flow { id: string; name: string; version_id?: string; version_number?: number; show_progress?: boolean; dismissible?: boolean; start?: Condition[]; frequency?: "once" | "multiple" | "unlimited"; /** Older spelling of `frequency: "unlimited"`; not with `frequency`. */ repeat?: boolean; priority?: number; start_delay_seconds?: number; steps: Step[] }
/** A flow step. */
export interface Step { id: string; name?: string; type: "modal" | "tooltip" | "bubble" | "hidden"; target?: string; placement?: "top" | "bottom" | "left" | "right"; target_timeout_ms?: number; on_target_missing?: "end" | "bubble"; corner?: "bottom-right" | "bottom-left" | "top-right" | "top-left"; blocks?: Block[]; triggers?: Trigger[] }
/** A step content block. */
export type Block = { type: "title"; text: string } | { type: "text"; markdown: string } | { type: "image"; src: string; alt?: string } | { type: "button"; label: string; action: Action; primary?: boolean };
/** What a button or trigger does. */
export type Action = { type: "next" } | { type: "back" } | { type: "end" } | { type: "go_to_step"; step: string } | { type: "start_flow"; flow: string } | { type: "navigate"; url: string } | { type: "track"; event: string };
/** Advances or ends a step without a button. */
export interface Trigger { when: { type: "target_clicked" } | { type: "element_appears"; selector: string } | { type: "url_matches"; pattern: string } | { type: "event_tracked"; event: string } | { type: "wait"; seconds: number }; action: Action }
/**
 * The Segment message analytics.js hands a plugin method in `ctx.event` (only
 * what segflow reads is typed).
 */
export interface AnalyticsEvent {
  type?: string; messageId?: string; userId?: string | null; anonymousId?: string | null;
  groupId?: string | null; previousId?: string | null; event?: string;
  traits?: object; properties?: object;
}
/**
 * segflow's destination plugin for analytics.js (`@segment/analytics-next`), for
 * `analytics.register(segflow.analyticsPlugin())`. Each method hands `ctx.event`
 * to segflow and returns `ctx`; it never throws. The calls update segflow's
 * user, group and traits and count tracked events for content conditions, and
 * are never sent to Segment again (analytics.js sent them).
 */
export interface AnalyticsPlugin {
  name: "segflow";
  type: "destination";
  version: string;
  isLoaded(): boolean;
  load(): Promise<void>;
  identify<Ctx extends { event: AnalyticsEvent }>(ctx: Ctx): Ctx;
  track<Ctx extends { event: AnalyticsEvent }>(ctx: Ctx): Ctx;
  group<Ctx extends { event: AnalyticsEvent }>(ctx: Ctx): Ctx;
  page<Ctx extends { event: AnalyticsEvent }>(ctx: Ctx): Ctx;
  alias<Ctx extends { event: AnalyticsEvent }>(ctx: Ctx): Ctx;
}
/** Listens for an event; the listener gets that event's payload type. The same function added twice for an event is called once (as with `addEventListener`). */
export function on<K extends keyof SegflowEventMap>(event: K, listener: (payload: SegflowEventMap[K]) => void): void;
/** Removes a listener added with `on`. */
export function off<K extends keyof SegflowEventMap>(event: K, listener: (payload: SegflowEventMap[K]) => void): void;

/**
 * Merges a previous id into `userId` (Segment alias) and makes `userId` current.
 */
export function alias(userId: string | number, previousId?: string | number): void;

/**
 * segflow's destination plugin for analytics.js: `analytics.register(segflow.analyticsPlugin())`
 * makes segflow follow the user, group and traits analytics.js identifies and count
 * the events it tracks (for content conditions), without sending them to Segment a
 * second time. Always the same object; available before segflow has loaded (calls it
 * hears meanwhile are queued). A different user id than segflow's identified user
 * switches segflow to it, with one console warning per page.
 */
export function analyticsPlugin(): AnalyticsPlugin;

/**
 * Ends the active flow (reason `program`).
 */
export function endAll(): void;

/**
 * Ends the active checklist (reason `program`).
 */
export function endChecklist(): void;

/**
 * Sends everything queued now. The Promise resolves to `{ pending }` once each of
 * those events is delivered or dropped (`pending: 0`), or as soon as they cannot go
 * out now: offline, streaming off, or waiting to be retried after a failure
 * (`pending`: how many are still queued; they keep being retried).
 */
export function flush(): Promise<FlushResult>;

/**
 * Associates the user with a group (company). `membership`: per-company user
 * attributes (such as a role), sent in the group call's `traits.membership`.
 * `signature` (Userflow.js's group signature) is accepted, so that Userflow.js code
 * runs unchanged, and not used: segflow verifies users only (see `identify`).
 */
export function group(companyId: string | number, traits?: Traits, options?: { membership?: Traits; signature?: string }): void;

/**
 * Identifies the signed-in user with the same user id Segment uses. `signature`:
 * the 64 hex digits of HMAC-SHA256(userId) with the environment's identity secret,
 * computed by your server; it is sent with every message of this user (as
 * `segflowSignature`, which a segflow collector checks and removes; never to
 * Segment's own API) and unlocks `stateHost`.
 */
export function identify(userId: string | number, traits?: Traits, options?: { signature?: string }): void;

/**
 * Identifies a signed-out visitor by the anonymous id alone.
 */
export function identifyAnonymous(traits?: Traits): void;

/**
 * Starts segflow and begins loading its core module (and the content module when
 * `content` is given). Calls made before segflow has loaded, this one included,
 * are queued and replayed in order; one that then fails goes to the `error`
 * listeners (or rejects its Promise) with the same `code` it would throw.
 */
export function init(options: InitOptions): void;

/**
 * Whether `identify` (or `identifyAnonymous`) has been called for this visitor;
 * `false` until segflow has loaded (and always during server-side rendering).
 * Once loaded, it throws `not_initialized` until `init` has run.
 */
export function isIdentified(): boolean;

/**
 * Loads flows and checklists: an object in the content schema (`docs/CONTENT.md`), or
 * the URL of a JSON document in it, added to what is loaded (the same id replaces).
 * It may name content loaded before (a `start_flow`, a condition), but not give a
 * flow's id to a checklist or the reverse. The Promise rejects
 * with `invalid_argument` for content that does not follow the schema (the message
 * names the offending path) or `content_unavailable` when the URL cannot be read.
 */
export function loadContent(source: string | Content): Promise<void>;

/**
 * Records a page view. The page's path, referrer, search, title and url are added
 * to the properties (the page's own properties win).
 */
export function page(name?: string, properties?: Properties): void;

/**
 * Forgets the user, traits and group and starts a new anonymous id (sign-out).
 * Events already queued are still delivered.
 */
export function reset(): void;

/**
 * Sets the z-index of the flow UI (default 1234500).
 */
export function setBaseZIndex(zIndex: number): void;

/**
 * Routes flow navigation (`navigate` actions) through the app's router; `null`
 * restores full page loads.
 */
export function setCustomNavigate(navigate: ((url: string) => void) | null): void;

/**
 * Turns the automatic `page_viewed` event off (`true`) or back on (`false`).
 */
export function setPageTrackingDisabled(disabled: boolean): void;

/**
 * Turns sending to Segment off (at once) or back on. While off, new events are not
 * queued for Segment; events already stored (by this or earlier page loads, or
 * other tabs) are kept and go out when it is back on.
 */
export function setStreaming(on: boolean): void;

/**
 * Starts a flow or a checklist now (start reason `program`); with `{ once: true }`
 * only if this user has not started it before. Starting a flow ends the active flow,
 * starting a checklist the active checklist (reason `replaced`).
 * The Promise settles once the content module has loaded and it started; it
 * rejects with `invalid_argument` for an unknown id.
 */
export function start(contentId: string, options?: { once?: boolean }): Promise<void>;

/**
 * Records an event. Flows whose triggers or start conditions wait for it react too.
 */
export function track(event: string, properties?: Properties): void;

/**
 * Changes the active group's traits (sent as a group call); `options` as for `group`.
 */
export function updateGroup(traits: Traits, options?: { membership?: Traits; signature?: string }): void;

/**
 * Changes the current user's traits (sent as an identify call).
 */
export function updateUser(traits: Traits): void;

/**
 * The ids and traits segflow holds for the visitor; `null` until segflow has
 * loaded (and always during server-side rendering). Once loaded, it throws
 * `not_initialized` until `init` has run.
 */
export function user(): UserState | null;

/**
 * Starts loading segflow's core module. Resolves once it is ready: from then on
 * every call runs at once (and throws synchronously on bad input). Optional:
 * calls made earlier are queued. Resolves at once, doing nothing, outside a browser.
 */
export default function load(): Promise<void>;
