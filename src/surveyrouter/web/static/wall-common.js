// What the offerwall and the result page share: the page's settings and the hook protocol
// (client API §2.9) that existing WebView and iframe integrations listen for.
"use strict";

window.Wall = (() => {
  const element = document.getElementById("page-settings");
  const settings = element ? JSON.parse(element.textContent) : {};
  const framed = window.parent !== window;

  /** Posts {type: "hook", name, args} where the SDKs listen: the parent window when the wall
   * is in an iframe, else the wall's own window (WebView bridges listen there). */
  function hook(name, args = []) {
    const message = { type: "hook", name, args };
    try {
      (framed ? window.parent : window).postMessage(message, "*");
    } catch (error) {
      console.warn("offerwall hook not delivered", name, error);
    }
  }

  /** sessionStorage that fails quietly where a WebView turns storage off. */
  const memory = {
    get(key) {
      try {
        return JSON.parse(sessionStorage.getItem(key) ?? "null");
      } catch {
        return null;
      }
    },
    set(key, value) {
      try {
        sessionStorage.setItem(key, JSON.stringify(value));
      } catch {
        /* storage disabled: the wall still works, it only forgets between pages */
      }
    },
    remove(key) {
      try {
        sessionStorage.removeItem(key);
      } catch {
        /* as above */
      }
    },
  };

  return {
    settings,
    framed,
    hook,
    memory,
    keys: { wallUrl: "surveyrouter.wall-url", openClick: "surveyrouter.open-click" },
  };
})();
