// The result page: tell the SDK how the survey ended (once per click, not on every reload)
// and lead back to the wall the user came from, with its own parameters and tags.
"use strict";

(() => {
  const { settings, hook, memory, keys } = window.Wall;
  const told = `surveyrouter.told.${settings.clickId}`;
  if (settings.hook && !memory.get(told)) {
    hook(settings.hook.name, settings.hook.args);
    memory.set(told, true);
  }
  // Back from the survey: nothing is left open for the wall to ask about.
  memory.remove(keys.openClick);
  const wall = memory.get(keys.wallUrl);
  const back = document.getElementById("back");
  if (wall && back && new URL(wall, location.href).origin === location.origin) {
    back.href = wall;
  }
})();
