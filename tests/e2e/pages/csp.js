// The strict-CSP test page's script (an external module: the policy blocks inline
// scripts). Records every CSP violation, then exposes segflow.
import * as segflow from '/pkg/segflow.js';

window.violations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.violations.push(`${e.effectiveDirective}: ${e.blockedURI || 'inline'}`);
});
window.segflow = segflow;
window.ready = true;
