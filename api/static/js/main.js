// The admin page at /alerts: sign in with a token (kept in sessionStorage), then the console:
// who is signed in, the notifications view, the configs, on call, the silences, my
// preferences, the bell and the notification centre. Everything goes through the REST API.

import { api, onUnauthorized, token } from "./api.js";
import { createConfig, loadConfigs, resetConfigs } from "./configs.js";
import { $, announce, icon } from "./dom.js";
import { fillFilters, loadFeed, resetFeed, setupFeed } from "./feed.js";
import { loadOnCall, resetOnCall } from "./oncall.js";
import { loadVocabulary } from "./vocabulary.js";
import { setUnread, setupCentre, startNotifications, stopNotifications } from "./notifications.js";
import { loadPreferences, setupPreferences } from "./preferences.js";
import { loadSilences, openSilenceForm, resetSilences } from "./silences.js";
import { resetWhy, setupWhy } from "./trail.js";

const VIEWS = ["#notifications-view", "#configs-view", "#oncall-view", "#silences-view", "#preferences-view", "#why-view"];
const SIGNED_IN = [...VIEWS, "#bell", "#sign-out", "#nav", "#whoami"];

function showLogin(message = "") {
  token.clear();
  stopNotifications();
  resetConfigs();
  resetOnCall();
  resetSilences();
  resetFeed();
  resetWhy();
  $("#login").hidden = false;
  for (const id of SIGNED_IN) $(id).hidden = true;
  $("#login-error").textContent = message;
  $("#token").focus();
}

async function whoami() {
  const me = await api("GET", "/me");
  $("#whoami").textContent = `${me.email || `user ${me.user_id}`} · ${me.tenant}`;
  $("#whoami").title = `Signed in as ${me.email} of tenant ${me.tenant} (scopes: ${me.scopes.join(", ")})`;
  return me;
}

async function showApp() {
  $("#login").hidden = true;
  for (const id of SIGNED_IN) $(id).hidden = false;
  try {
    const [me] = await Promise.all([whoami(), loadVocabulary()]);
    fillFilters();
    await Promise.all([loadConfigs(), loadOnCall(), loadSilences(), loadPreferences(me.email), loadFeed()]);
  } catch (error) {
    if (error.status !== 401) announce(`Could not load the page: ${error.message}`, "error");
    return;
  }
  startNotifications();
}

async function signIn(event) {
  event.preventDefault();
  const value = $("#token").value.trim();
  if (!value) {
    $("#login-error").textContent = "Paste an API token.";
    return;
  }
  try {
    const { count } = await api("GET", "/admin/alerts/notifications/unread/count", undefined, value);
    token.set(value);
    $("#token").value = "";
    $("#login-error").textContent = "";
    setUnread(count);
    await showApp();
    $("#main").focus();
  } catch (error) {
    $("#login-error").textContent = {
      401: "This token is invalid or revoked.",
      403: "This token lacks the alerts:read scope.",
    }[error.status] || error.message;
  }
}

// The section links move focus to their section, so the next Tab starts there.
function followNav(event) {
  const link = event.target.closest("a[href^='#']");
  if (!link) return;
  const view = $(link.getAttribute("href"));
  if (!view) return;
  event.preventDefault();
  view.scrollIntoView({ block: "start" });
  view.focus({ preventScroll: true });
}

function init() {
  $("#bell .bell-icon").append(icon("bell"));
  $("#empty .empty-icon").append(icon("inbox"));
  $("#login-form").addEventListener("submit", signIn);
  $("#sign-out").addEventListener("click", () => showLogin("Token forgotten. Paste one to continue."));
  $("#new-config").addEventListener("click", createConfig);
  $("#empty-create").addEventListener("click", createConfig);
  $("#new-silence").addEventListener("click", () => openSilenceForm());
  $("#nav").addEventListener("click", followNav);
  setupCentre();
  setupFeed();
  setupPreferences();
  setupWhy();
  onUnauthorized(() => showLogin("Your token is no longer valid. Paste a new one."));
  if (token.get()) showApp();
  else showLogin();
}

init();
