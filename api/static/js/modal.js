// Keyboard-operable modals: focus moves in, Tab stays in (focus trap), Esc closes, and focus
// returns to whatever opened the modal. The page behind is made inert while one is open.

const FOCUSABLE = [
  "a[href]", "button:not([disabled])", "input:not([disabled]):not([type=hidden])",
  "select:not([disabled])", "textarea:not([disabled])", "[tabindex]:not([tabindex='-1'])",
].join(",");

const stack = [];

function focusables(root) {
  return [...root.querySelectorAll(FOCUSABLE)].filter((el) => el.getClientRects().length > 0);
}

function setBackgroundInert(inert) {
  for (const el of document.querySelectorAll("[data-modal-inert]")) el.inert = inert;
}

function onKeydown(event) {
  const top = stack[stack.length - 1];
  if (!top) return;
  if (event.key === "Escape") {
    event.preventDefault();
    closeModal(top.root);
    return;
  }
  if (event.key !== "Tab") return;
  const items = focusables(top.root);
  if (items.length === 0) {
    event.preventDefault();
    return;
  }
  const first = items[0];
  const last = items[items.length - 1];
  const inside = top.root.contains(document.activeElement);
  if (event.shiftKey && (document.activeElement === first || !inside)) {
    event.preventDefault();
    last.focus();
  } else if (!event.shiftKey && (document.activeElement === last || !inside)) {
    event.preventDefault();
    first.focus();
  }
}

// root: the .overlay element; its [data-close] buttons and a click on the backdrop close it
// (the backdrop only when closeOnBackdrop).
export function openModal(root, { initialFocus = null, onClose = null, closeOnBackdrop = true } = {}) {
  if (stack.some((entry) => entry.root === root)) return;
  const opener = document.activeElement;
  for (const entry of stack) entry.root.inert = true;
  stack.push({ root, opener, onClose });
  if (stack.length === 1) document.addEventListener("keydown", onKeydown);
  setBackgroundInert(true);
  document.body.classList.add("modal-open");
  root.hidden = false;
  root.onclick = (event) => {
    if (event.target.closest("[data-close]") || (closeOnBackdrop && event.target === root)) {
      closeModal(root);
    }
  };
  const target = initialFocus || focusables(root)[0] || root.firstElementChild;
  if (target) target.focus();
}

export function closeModal(root) {
  const index = stack.findIndex((entry) => entry.root === root);
  if (index < 0) return;
  const [entry] = stack.splice(index, 1);
  root.hidden = true;
  if (stack.length === 0) {
    document.removeEventListener("keydown", onKeydown);
    setBackgroundInert(false);
    document.body.classList.remove("modal-open");
  } else {
    stack[stack.length - 1].root.inert = false;
  }
  if (entry.opener && entry.opener.isConnected && typeof entry.opener.focus === "function") {
    entry.opener.focus();
  }
  if (entry.onClose) entry.onClose();
}

export function isOpen(root) {
  return stack.some((entry) => entry.root === root);
}
