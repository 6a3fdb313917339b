//! The kinds of callback from `js/content.js` into the content module. Every DOM
//! event it listens to, timer, microtask, observer and fetch comes back through
//! the module's one export for them, `content_wake(kind, id, value)` (in
//! [`api`](super::api)): `id` is a timer's or request's id (0 when there is
//! none), `value` the DOM event or the fetched text, held for it. One callback
//! instead of a closure per use, as in the core module (`crate::web` `wake`).

/// A click anywhere in the document (capture phase): the flow UI's buttons and
/// the tooltip target.
pub const CLICK: u32 = 0;
/// A key press in the document (capture phase).
pub const KEYDOWN: u32 = 1;
/// A mouse press in the document (capture phase): a modal's backdrop.
pub const MOUSEDOWN: u32 = 2;
/// Focus moved in the document (capture phase): an open modal keeps it.
pub const FOCUSIN: u32 = 3;
/// The page scrolled or the window was resized: the tooltip is placed again.
pub const MOVED: u32 = 4;
/// The DOM changed (a `MutationObserver` on the document).
pub const MUTATION: u32 = 5;
/// The step on screen changed size (`observeSize`).
pub const STEP_RESIZED: u32 = 6;
/// A step's wait for its tooltip target timed out; `id` is the wait's token.
pub const WAIT_TIMEOUT: u32 = 7;
/// A flow engine timer fired; `id` is the engine's timer id.
pub const FLOW_TIMER: u32 = 8;
/// The flow runner's deferred start-up (a microtask after `contentInit`).
pub const BOOT: u32 = 9;
/// Bring focus back into the open modal (a microtask after `focusin`).
pub const REFOCUS: u32 = 10;
/// A checklist engine timer fired; `id` is the engine's timer id.
pub const CHECKLIST_TIMER: u32 = 11;
/// A click inside the checklist widget.
pub const CHECKLIST_CLICK: u32 = 12;
/// A key press inside the checklist widget.
pub const CHECKLIST_KEYDOWN: u32 = 13;
/// The user's server-side state arrived: `id` is the request's token, `value`
/// the answer's text.
pub const STATE: u32 = 14;
/// Content fetched by `loadContent(url)` arrived: `value` is its text; the
/// callback returns the error that rejects `loadContent`'s promise, or undefined.
pub const LOADED: u32 = 15;
