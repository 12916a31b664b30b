// The admin page at /alerts: sign in with a token (kept in sessionStorage), then the configs,
// the silences, the bell and the notification centre. Everything goes through the REST API.

import { api, onUnauthorized, token } from "./api.js";
import { createConfig, loadConfigs, resetConfigs } from "./configs.js";
import { $, announce, icon } from "./dom.js";
import { loadOnCall, resetOnCall } from "./oncall.js";
import { loadVocabulary } from "./vocabulary.js";
import { setUnread, setupCentre, startNotifications, stopNotifications } from "./notifications.js";
import { loadSilences, openSilenceForm, resetSilences } from "./silences.js";
import { resetWhy, setupWhy } from "./trail.js";

function showLogin(message = "") {
  token.clear();
  stopNotifications();
  resetConfigs();
  resetOnCall();
  resetSilences();
  resetWhy();
  $("#why-view").hidden = true;
  $("#login").hidden = false;
  $("#configs-view").hidden = true;
  $("#oncall-view").hidden = true;
  $("#silences-view").hidden = true;
  $("#bell").hidden = true;
  $("#sign-out").hidden = true;
  $("#login-error").textContent = message;
  $("#token").focus();
}

async function showApp() {
  $("#login").hidden = true;
  $("#configs-view").hidden = false;
  $("#oncall-view").hidden = false;
  $("#silences-view").hidden = false;
  $("#why-view").hidden = false;
  $("#bell").hidden = false;
  $("#sign-out").hidden = false;
  try {
    await loadVocabulary();
    await Promise.all([loadConfigs(), loadOnCall(), loadSilences()]);
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

function init() {
  $("#bell .bell-icon").append(icon("bell"));
  $("#empty .empty-icon").append(icon("inbox"));
  $("#login-form").addEventListener("submit", signIn);
  $("#sign-out").addEventListener("click", () => showLogin("Token forgotten. Paste one to continue."));
  $("#new-config").addEventListener("click", createConfig);
  $("#empty-create").addEventListener("click", createConfig);
  $("#new-silence").addEventListener("click", () => openSilenceForm());
  setupCentre();
  setupWhy();
  onUnauthorized(() => showLogin("Your token is no longer valid. Paste a new one."));
  if (token.get()) showApp();
  else showLogin();
}

init();
