// The hosted offerwall. Everything goes through the public client API, as any publisher's own
// integration would: v1 Get Actions for the profile questions and restrictions, v2 surveys
// for the list, the v2 click flow to open a survey, the leaderboard when the app shows it.
"use strict";

(() => {
  const { settings, framed, hook, memory, keys } = window.Wall;
  const words = settings.messages;
  const view = document.getElementById("view");
  const LEAVE_REASONS = ["SENSITIVE", "UNINTERESTING", "TECHNICAL", "TOO_LONG", "OTHER"];

  // --- words and markup ------------------------------------------------------------------

  /** The message `key` with each {name} replaced from `values`. */
  function t(key, values = {}) {
    const template = words[key] ?? key;
    return template.replace(/\{(\w+)\}/g, (whole, name) =>
      name in values ? String(values[name]) : whole,
    );
  }

  /** The message `key` as text and nodes: a {name} whose value is a node (an amount with
   * its currency icon) is that node, in the place the language puts it. */
  function tn(key, values) {
    return (words[key] ?? key).split(/(\{\w+\})/).filter((part) => part !== "").map((part) => {
      const name = /^\{(\w+)\}$/.exec(part)?.[1];
      return name && name in values ? values[name] : part;
    });
  }

  /** An element with attributes (`on…` functions become listeners) and children. */
  function el(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (value === null || value === undefined || value === false) continue;
      if (name.startsWith("on") && typeof value === "function") {
        node.addEventListener(name.slice(2), value);
      } else if (value === true) {
        node.setAttribute(name, "");
      } else {
        node.setAttribute(name, String(value));
      }
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  /** `value` (the API's formatted string) in the app's currency, as the server writes it. */
  function amount(value) {
    const currency = settings.app.currency;
    const text = String(value);
    if (currency.isImage) {
      return el("span", { class: "amount" }, `${text} `,
        el("img", { class: "currency-icon", src: currency.symbol, alt: "" }));
    }
    const shown = currency.symbol.includes("{value}")
      ? currency.symbol.replaceAll("{value}", text)
      : `${text} ${currency.symbol}`;
    return el("span", { class: "amount" }, shown);
  }

  function formatDate(iso, withTime = true) {
    const options = withTime ? { dateStyle: "long", timeStyle: "short" } : { dateStyle: "long" };
    return new Intl.DateTimeFormat(settings.language, options).format(new Date(iso));
  }

  /** Shows `nodes` as the whole view and moves the focus into it (to `focus`, a node or a
   * selector, else its first heading), so keyboard and screen-reader users follow each step. */
  function show(name, nodes, focus) {
    view.replaceChildren(...[nodes].flat());
    view.dataset.view = name;
    performance.mark(`offerwall:${name}`); // when each view first showed, for real-user timing
    const target = (typeof focus === "string" ? view.querySelector(focus) : focus)
      ?? view.querySelector("h2, h1");
    if (target) {
      if (!target.hasAttribute("tabindex") && !isFocusable(target)) target.tabIndex = -1;
      target.focus({ preventScroll: false });
    }
  }

  function isFocusable(node) {
    return node.matches("input, select, textarea, button, a[href]");
  }

  function panel(attributes, ...children) {
    return el("section", { class: "panel", ...attributes }, ...children);
  }

  function showLoading() {
    view.replaceChildren(el("p", { class: "muted", role: "status" }, t("loading")));
    view.dataset.view = "loading";
  }

  function showError(error, retry) {
    const message = error instanceof ApiError && error.status === 0
      ? t("error_network")
      : t("error_generic", { message: error.message });
    show("error", panel({ class: "panel notice", role: "alert" },
      el("h2", {}, message),
      el("button", { type: "button", class: "button", onclick: retry }, t("try_again"))));
  }

  // --- the client API --------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  /** One client API call as the user (X-Api-Token + X-User-Id); its `data`, or an ApiError
   * with the envelope's message. */
  async function api(method, path, { query = {}, body } = {}) {
    const url = new URL(path, location.href);
    for (const [name, value] of Object.entries({ ...settings.query, ...query })) {
      if (value) url.searchParams.set(name, value);
    }
    const headers = {
      Accept: "application/json",
      "X-Api-Token": settings.token,
      "X-User-Id": settings.uid,
    };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "omit",
      });
    } catch {
      throw new ApiError(0, t("error_network"));
    }
    let payload = null;
    try {
      payload = await response.json();
    } catch {
      /* not JSON: the status says enough */
    }
    if (!response.ok) {
      throw new ApiError(response.status, payload?.error?.details?.msg || response.statusText);
    }
    return payload?.data;
  }

  // --- the wall --------------------------------------------------------------------------

  // The start bonus the user was answering for, to tell them when the answer paid it.
  let bonusInProgress = null;

  async function load() {
    showLoading();
    try {
      const actions = await api("GET", "/v1/client/actions");
      if (bonusInProgress && !actions.start_bonus) {
        const reward = bonusInProgress;
        bonusInProgress = null;
        return showStartBonus(reward);
      }
      if (actions.restriction_reason) return showRestriction(actions.restriction_reason);
      const question = actions.qualification;
      if (question?.is_standard_profile) return showProfileQuestion(actions);
      const listing = await api("GET", "/v2/client/surveys", { query: { tags: settings.tags } });
      if (listing.restriction_reason) return showRestriction(listing.restriction_reason);
      showSurveys(listing.surveys, question);
    } catch (error) {
      showError(error, load);
    }
  }

  function showRestriction(reason) {
    let kind;
    let lines;
    if (reason.not_verified) {
      [kind, lines] = ["not_verified", [t("restricted_not_verified")]];
    } else if (reason.using_vpn) {
      [kind, lines] = ["using_vpn", [t("restricted_vpn")]];
    } else if (reason.banned_until) {
      kind = "banned";
      lines = [t("restricted_banned", { date: formatDate(reason.banned_until) })];
      if (reason.reason) lines.push(t("restricted_banned_reason", { reason: reason.reason }));
    } else if (reason.unsupported_country) {
      kind = "unsupported_country";
      lines = [t("restricted_country", { country: reason.unsupported_country })];
    } else if (reason.reason) {
      [kind, lines] = ["reason", [reason.reason]];
    } else {
      [kind, lines] = ["unknown", [t("restricted_unknown")]];
    }
    show("restricted", panel({ class: "panel notice", role: "alert", "data-restriction": kind },
      el("h2", {}, t("restricted_title")),
      lines.map((line) => el("p", {}, line))));
  }

  function showProfileQuestion(actions) {
    const qualification = actions.qualification;
    const form = questionForm(qualification.question, {
      onSubmit: async (answers) => {
        await postProfileAnswer(qualification, answers);
        if (qualification.is_start_bonus && actions.start_bonus) {
          bonusInProgress = actions.start_bonus.reward;
        }
        await load();
      },
    });
    show("profile", panel({ "aria-labelledby": "profile-title" },
      el("h2", { id: "profile-title" }, t("profile_title")),
      el("p", { class: "muted" }, t("profile_intro")),
      form), firstControl(form));
  }

  function postProfileAnswer(qualification, answers) {
    const path = `/v1/client/networks/${qualification.network_id}/questions/`
      + encodeURIComponent(qualification.question_id);
    return api("POST", path, { body: { answers } });
  }

  function showSurveys(surveys, qualification) {
    const parts = [];
    if (qualification) parts.push(moreQuestionCard(qualification));
    if (surveys.length === 0) {
      parts.push(panel({ class: "panel empty", role: "status" },
        el("h2", {}, t("no_surveys")),
        el("p", {}, t("no_surveys_detail")),
        el("button", { type: "button", class: "button", onclick: load }, t("refresh"))));
    } else {
      parts.push(el("section", { "aria-labelledby": "surveys-title" },
        el("h2", { id: "surveys-title" }, t("surveys_title")),
        el("ul", { class: "cards", role: "list" },
          surveys.map((survey) => el("li", {}, surveyCard(survey))))));
    }
    if (settings.app.leaderboard) parts.push(leaderboardSection());
    show("surveys", parts, "#surveys-title, .empty h2");
  }

  function surveyCard(survey) {
    const bonus = survey.type === "start_bonus";
    const icon = new URL(survey.category.icon_url, new URL(settings.iconBase, location.href));
    const rating = Math.max(1, Math.min(5, Math.round(survey.rating)));
    const minutes = Math.max(1, Math.round(survey.loi));
    return el("button", {
      type: "button",
      class: bonus ? "card card-bonus" : "card",
      "data-survey-id": survey.id,
      "data-type": survey.type,
      onclick: () => openSurvey(survey),
    },
    el("img", { class: "card-icon", src: icon.href, alt: "", width: 40, height: 40 }),
    el("span", { class: "card-main" },
      el("span", { class: "card-title" }, bonus ? t("start_bonus_title") : survey.category.name),
      bonus
        ? el("span", { class: "card-detail" },
          tn("start_bonus_detail", { value: amount(survey.value) }))
        : el("span", { class: "card-meta" },
          el("span", { class: "loi" }, t("minutes", { minutes })),
          el("span", { class: "stars", "aria-hidden": "true" },
            "★".repeat(rating) + "☆".repeat(5 - rating)),
          el("span", { class: "visually-hidden" }, t("rating", { rating }))),
      survey.tags.length
        ? el("span", { class: "chips" }, survey.tags.map((tag) => el("span", { class: "chip" },
          t(`tag_${tag}`))))
        : null),
    el("span", { class: "card-value" }, amount(survey.value)));
  }

  function moreQuestionCard(qualification) {
    return panel({ class: "panel more", "aria-labelledby": "more-title" },
      el("h2", { id: "more-title" }, t("more_title")),
      el("p", { class: "muted" }, t("more_intro")),
      el("button", {
        type: "button",
        class: "button",
        id: "answer-more",
        onclick: () => showMoreQuestion(qualification),
      }, t("answer_now")));
  }

  function showMoreQuestion(qualification) {
    const form = questionForm(qualification.question, {
      onSubmit: async (answers) => {
        await postProfileAnswer(qualification, answers);
        await load();
      },
      onSkip: qualification.question.can_skip
        ? async () => {
          const path = `/v1/client/networks/${qualification.network_id}/questions/`
            + `${encodeURIComponent(qualification.question_id)}/skip`;
          await api("POST", path);
          await load();
        }
        : null,
      onBack: load,
    });
    show("question", panel({ "aria-labelledby": "more-title" },
      el("h2", { id: "more-title" }, t("more_title")), form), firstControl(form));
  }

  // --- opening a survey: the v2 click flow -----------------------------------------------

  async function openSurvey(survey) {
    showLoading();
    try {
      const created = await api("POST", survey.click_url);
      const step = await api("GET", `/v2/client/clicks/${encodeURIComponent(created.id)}`);
      follow(created.id, step, survey);
    } catch (error) {
      showError(error, load);
    }
  }

  function follow(clickId, step, survey) {
    if (step.answer_question) return showClickQuestion(clickId, step, survey);
    const redirect = step.redirect;
    if (!redirect) return load();
    if (redirect.type === "survey") return enterSurvey(clickId, redirect.url, survey.id);
    if (redirect.type === "start_bonus") return showStartBonus(survey.value);
    return showUnavailable();
  }

  // The survey's tab ends on our result page, whose hook no host hears: the tab has no
  // opener, and a frame's storage is partitioned from a tab's. So the frame asks the server
  // how the survey went and tells the host itself, as the result page would have.
  const WATCH_EVERY_MS = 4000;
  const WATCH_FOR_MS = 2 * 60 * 60 * 1000;
  const OUTCOME_HOOKS = {
    COMPLETE: "offerwall-surveys:survey.complete",
    SCREENOUT: "offerwall-surveys:survey.screenout",
  };
  let watching = null;

  function watchOutcome(surveyId) {
    // History names a survey by its opportunity id, the v2 id's part after the network's.
    const opportunity = Number(String(surveyId).split("-").pop());
    if (!Number.isInteger(opportunity)) return;
    stopWatching();
    const until = Date.now() + WATCH_FOR_MS;
    const check = async () => {
      if (Date.now() > until) return stopWatching();
      if (document.visibilityState === "hidden") return;
      let events;
      try {
        events = await api("GET", "/v1/client/user/history", { query: { filter: "surveys" } });
      } catch {
        return; // asked again at the next tick
      }
      // One event per survey, and a survey is taken once: its event is this visit's.
      const event = events.find((each) => each.survey_id === opportunity);
      if (!event || event.type === "OPEN" || watching?.opportunity !== opportunity) return;
      stopWatching();
      const name = OUTCOME_HOOKS[event.type];
      if (name) hook(name, [{ reward: Number(event.user_value ?? 0) }]);
      load();
    };
    watching = { opportunity, timer: setInterval(check, WATCH_EVERY_MS), check };
    document.addEventListener("visibilitychange", check);
    window.addEventListener("focus", check);
  }

  function stopWatching() {
    if (!watching) return;
    clearInterval(watching.timer);
    document.removeEventListener("visibilitychange", watching.check);
    window.removeEventListener("focus", watching.check);
    watching = null;
  }

  function enterSurvey(clickId, link, surveyId) {
    memory.set(keys.openClick, { id: clickId });
    hook("offerwall-surveys:survey.start", [{ clickId, link }]);
    showLoading();
    // After the hook's message has been dispatched: a listener may act on it first.
    setTimeout(() => {
      // In a frame the survey gets a tab of its own (survey sites refuse to be framed). Not
      // window.open's "noopener": with it the call returns null even when the tab opened, and
      // the frame would enter the survey a second time; the opener is cut here instead. A
      // blocked pop-up (null) leaves the frame to enter it.
      const opened = framed ? window.open(link, "_blank") : null;
      if (opened) {
        opened.opener = null;
        // The frame never left the wall: a reload of it is no return from an unfinished survey.
        memory.remove(keys.openClick);
        watchOutcome(surveyId);
        load();
      } else {
        location.assign(link);
      }
    }, 150);
  }

  function showClickQuestion(clickId, step, survey) {
    const question = step.answer_question.question;
    const update = async (body) => {
      const next = await api("POST", `/v2/client/clicks/${encodeURIComponent(clickId)}`, { body });
      follow(clickId, next, survey);
    };
    const form = questionForm(question, {
      onSubmit: (answers) => update({ answer_question: { answers } }),
      onSkip: question.can_skip ? () => update({ skip_question: true }) : null,
      onLeave: async () => {
        if (await leaveDialog(clickId, t("leave_title"))) load();
      },
    });
    const required = Math.max(step.required_questions, step.answered_questions + 1);
    show("click-question", panel({ "aria-labelledby": "click-title" },
      el("h2", { id: "click-title" }, t("survey_questions")),
      el("p", { class: "muted progress" },
        t("question_progress", { answered: step.answered_questions + 1, required })),
      form), firstControl(form));
  }

  function showStartBonus(value) {
    hook("offerwall-surveys:survey.start-bonus", [{ reward: Number.parseFloat(value) }]);
    show("start-bonus", panel({ class: "panel result result-good", id: "result" },
      el("h2", {}, t("result_start_bonus")),
      el("p", { class: "reward" }, tn("result_start_bonus_reward", { reward: amount(value) })),
      el("button", { type: "button", class: "button", id: "back", onclick: load }, t("back"))));
  }

  function showUnavailable() {
    show("unavailable", panel({ class: "panel notice" },
      el("h2", {}, t("unavailable_title")),
      el("p", {}, t("unavailable_detail")),
      el("button", { type: "button", class: "button", onclick: load }, t("back"))));
  }

  /** Asks why the user leaves click `clickId`; true when they left (the API was told). */
  function leaveDialog(clickId, title, detail) {
    return new Promise((resolve) => {
      const reasons = el("fieldset", { class: "choices" },
        el("legend", { class: "visually-hidden" }, title),
        LEAVE_REASONS.map((reason, index) => el("label", { class: "choice" },
          el("input", { type: "radio", name: "reason", value: reason, required: true,
            checked: index === LEAVE_REASONS.length - 1 }),
          el("span", {}, t(`reason_${reason}`)))));
      const error = el("p", { class: "field-error", role: "alert", hidden: true });
      const form = el("form", { method: "dialog" },
        el("h2", { id: "leave-title" }, title),
        detail ? el("p", {}, detail) : null,
        reasons,
        error,
        el("div", { class: "actions" },
          el("button", { type: "submit", class: "button", value: "leave" }, t("leave_confirm")),
          el("button", { type: "submit", class: "button secondary", value: "cancel",
            formnovalidate: true }, t("leave_cancel"))));
      const dialog = el("dialog", { class: "dialog", id: "leave-dialog",
        "aria-labelledby": "leave-title" }, form);
      form.addEventListener("submit", async (event) => {
        if (event.submitter?.value !== "leave") return;
        event.preventDefault();
        const reason = new FormData(form).get("reason");
        try {
          await api("POST", `/v2/client/clicks/${encodeURIComponent(clickId)}`,
            { body: { leave_survey: { reason } } });
          dialog.close("left");
        } catch (failure) {
          error.textContent = t("error_generic", { message: failure.message });
          error.hidden = false;
        }
      });
      dialog.addEventListener("close", () => {
        dialog.remove();
        resolve(dialog.returnValue === "left");
      });
      document.body.append(dialog);
      dialog.showModal();
      reasons.querySelector("input:checked").focus();
    });
  }

  // --- questions -------------------------------------------------------------------------

  let questionNumber = 0;

  function firstControl(form) {
    return form.querySelector("input, select, textarea");
  }

  /** A form for one question of any type, checked against its `validation_info` before it
   * is sent; the API's own refusal shows in the same place. */
  function questionForm(question, { onSubmit, onSkip = null, onLeave = null, onBack = null }) {
    questionNumber += 1;
    const id = `q${questionNumber}`;
    const errorId = `${id}-error`;
    const rules = question.validation_info ?? {};
    const error = el("p", { class: "field-error", id: errorId, role: "alert", hidden: true });
    const field = questionField(question, id, errorId, rules);
    const submit = el("button", { type: "submit", class: "button" }, t("continue"));
    const buttons = [submit];
    const busy = (state) => {
      for (const button of form.querySelectorAll("button")) button.disabled = state;
    };
    const run = async (action) => {
      busy(true);
      try {
        await action();
      } catch (failure) {
        busy(false);
        fail(failure.message);
      }
    };
    if (onSkip) {
      buttons.push(el("button", { type: "button", class: "button secondary",
        onclick: () => run(onSkip) }, t("skip")));
    }
    if (onLeave) {
      buttons.push(el("button", { type: "button", class: "button secondary", id: "leave",
        onclick: onLeave }, t("leave")));
    }
    if (onBack) {
      buttons.push(el("button", { type: "button", class: "button secondary",
        onclick: onBack }, t("back")));
    }
    const form = el("form", { class: "question", novalidate: true, "data-type": question.type,
      "data-question-id": question.id }, field, error, el("div", { class: "actions" }, buttons));
    const controls = () => form.querySelectorAll("input, select");
    function fail(message) {
      error.textContent = message;
      error.hidden = false;
      for (const control of controls()) control.setAttribute("aria-invalid", "true");
      controls()[0]?.focus();
    }
    form.addEventListener("input", () => {
      error.hidden = true;
      for (const control of controls()) control.removeAttribute("aria-invalid");
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const answers = readAnswers(form, question);
      const problem = checkAnswers(question, answers, rules);
      if (problem) return fail(problem);
      run(() => onSubmit(answers));
    });
    return form;
  }

  function questionField(question, id, errorId, rules) {
    const text = question.localized_text;
    const described = { "aria-describedby": errorId };
    if (question.type === "SINGLE" || question.type === "MULTI") {
      const multi = question.type === "MULTI";
      if (!multi && question.answers.length > 10) {
        return el("div", { class: "field" },
          el("label", { for: id, class: "question-text" }, text),
          el("select", { id, name: "answer", ...described },
            el("option", { value: "" }, t("choose")),
            question.answers.map((answer) => el("option", { value: answer.code },
              answer.localized_text))));
      }
      return el("fieldset", { class: "choices", ...described },
        el("legend", { class: "question-text" }, text),
        question.answers.map((answer, index) => el("label", { class: "choice" },
          el("input", { type: multi ? "checkbox" : "radio", name: "answer", value: answer.code,
            id: `${id}-${index}` }),
          el("span", {}, answer.localized_text))));
    }
    const input = { id, name: "answer", ...described, required: true };
    if (question.type === "NUMBER") {
      Object.assign(input, { type: "number", inputmode: "numeric", step: 1,
        min: rules.min ?? null, max: rules.max ?? null });
    } else if (question.type === "DATE") {
      // A birth date's limits are ages: the youngest allowed is born at most `min` years ago.
      Object.assign(input, { type: "date", autocomplete: question.id === "birth_date" ? "bday" : null,
        max: rules.min != null ? yearsAgo(rules.min) : null,
        min: rules.max != null ? yearsAgo(rules.max + 1, 1) : null });
    } else {
      Object.assign(input, { type: "text", maxlength: rules.max ?? null,
        autocomplete: question.id === "postal_code" ? "postal-code" : "off" });
      if (question.example) input.placeholder = question.example;
    }
    return el("div", { class: "field" },
      el("label", { for: id, class: "question-text" }, text),
      el("input", input));
  }

  /** The ISO date `years` years (plus `days` days) before today, in the user's time zone. */
  function yearsAgo(years, days = 0) {
    const date = new Date();
    date.setFullYear(date.getFullYear() - years);
    date.setDate(date.getDate() + days);
    const pad = (n) => String(n).padStart(2, "0");
    return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
  }

  function ageOn(birth, today = new Date()) {
    const [year, month, day] = birth.split("-").map(Number);
    let age = today.getFullYear() - year;
    if (today.getMonth() + 1 < month || (today.getMonth() + 1 === month && today.getDate() < day)) {
      age -= 1;
    }
    return age;
  }

  function readAnswers(form, question) {
    if (question.type === "SINGLE" || question.type === "MULTI") {
      const select = form.querySelector("select");
      if (select) return select.value ? [select.value] : [];
      return [...form.querySelectorAll("input:checked")].map((input) => input.value);
    }
    const value = form.querySelector("input").value.trim();
    return value ? [value] : [];
  }

  /** The first rule of `validation_info` the answers break, as a message; null if none. */
  function checkAnswers(question, answers, rules) {
    const { min = null, max = null, regex = null } = rules;
    if (question.type === "SINGLE") return answers.length === 1 ? null : t("error_choose_one");
    if (question.type === "MULTI") {
      const fewest = min ?? 1;
      if (answers.length >= fewest && (max === null || answers.length <= max)) return null;
      return max === null ? t("error_choose_min", { min: fewest })
        : t("error_choose_range", { min: fewest, max });
    }
    if (answers.length === 0) {
      return t(question.type === "DATE" ? "error_date" : "error_required");
    }
    const value = answers[0];
    const pattern = regex ? new RegExp(regex) : null;
    if (question.type === "NUMBER") {
      if ((pattern && !pattern.test(value)) || !/^[+-]?\d+$/.test(value)) return t("error_number");
      const number = Number(value);
      if ((min !== null && number < min) || (max !== null && number > max)) {
        return t("error_number_range", { min: min ?? "…", max: max ?? "…" });
      }
      return null;
    }
    if (question.type === "DATE") {
      if (!/^\d{4}-\d{2}-\d{2}$/.test(value) || Number.isNaN(Date.parse(value))) {
        return t("error_date");
      }
      const age = ageOn(value);
      if ((min !== null && age < min) || (max !== null && age > max)) {
        return t("error_age_range", { min: min ?? 0, max: max ?? 120 });
      }
      return null;
    }
    if ((min !== null && value.length < min) || (max !== null && value.length > max)) {
      return t("error_text_length", { min: min ?? 1, max: max ?? "…" });
    }
    return pattern && !pattern.test(value) ? t("error_format") : null;
  }

  // --- the leaderboard -------------------------------------------------------------------

  function leaderboardSection() {
    const status = el("p", { class: "muted" }, t("loading"));
    const section = panel({ class: "panel leaderboard", "aria-labelledby": "leaderboard-title" },
      el("h2", { id: "leaderboard-title" }, t("leaderboard_title")), status);
    api("GET", "/v1/client/leaderboard").then((board) => {
      const prizes = new Map((board.rewards ?? []).map((r) => [r.rank, r.reward_raw]));
      const rows = (board.top_users ?? []).map((user) => el("tr",
        { class: user.rank === board.own_user?.rank ? "own" : null },
        el("td", {}, String(user.rank)),
        el("td", {}, user.name || t("leaderboard_anonymous")),
        el("td", {}, amount(user.earnings_raw)),
        el("td", {}, prizes.has(user.rank) ? amount(prizes.get(user.rank)) : "")));
      const table = rows.length === 0 ? [] : [el("table", {},
        el("thead", {}, el("tr", {},
          ["leaderboard_rank", "leaderboard_name", "leaderboard_earnings", "leaderboard_prize"]
            .map((key) => el("th", { scope: "col" }, t(key))))),
        el("tbody", {}, rows))];
      status.replaceWith(
        el("p", { class: "muted" },
          t("leaderboard_intro", { date: formatDate(board.next_reset_at, false) })),
        el("p", { class: "own-rank" }, board.own_user
          ? tn("leaderboard_you",
            { rank: board.own_user.rank, earnings: amount(board.own_user.earnings_raw) })
          : t("leaderboard_not_ranked")),
        ...table);
    }).catch((failure) => {
      status.textContent = t("error_generic", { message: failure.message });
    });
    return section;
  }

  // --- start -----------------------------------------------------------------------------

  const close = document.getElementById("close");
  close.hidden = !(framed || settings.query.sdk);
  close.addEventListener("click", () => hook("offerwall-core:sdk.close"));
  window.addEventListener("message", (event) => {
    // The host app may show or hide our close button (client API §2.9).
    if (event.data?.target === "app.behaviour.close_button_visible") {
      close.hidden = !event.data.value;
    }
  });

  async function start() {
    memory.set(keys.wallUrl, location.href);
    const open = memory.get(keys.openClick);
    if (open?.id) {
      // Back on the wall with a survey still open and no result page seen: they left it.
      memory.remove(keys.openClick);
      await leaveDialog(open.id, t("leave_back_title"), t("leave_back_detail"));
    }
    await load();
  }

  hook("offerwall-core:init");
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) start(); // restored from the back-forward cache
  });
  start();
})();
