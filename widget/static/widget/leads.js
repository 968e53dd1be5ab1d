  /* ---------- lead capture ---------- */
  const maybeLead = () => {
    if (store.get("lead") || leadVisible || leadDismissed) return;
    const mode = cfg.lead_capture;
    if (handoff) return showLead("handoff");
    if (leadWanted && mode !== "off") return showLead("intent");
    if (mode === "after_messages" && visitorCount >= 3) showLead("after");
  };

  const hideLead = () => {
    leadVisible = leadBlocking = false;
    if (!ui) return;
    ui.leadSlot.replaceChildren();
    ui.compose.hidden = false;
  };

  const showLead = (reason) => {
    // "Never" (off): no form for any reason (a handoff, the quota, the before-chat gate).
    if (leadVisible || cfg.lead_capture === "off") return;
    leadVisible = true;
    const blocking = (leadBlocking = reason === "before");
    const fields = Array.isArray(cfg.lead_fields) ? cfg.lead_fields : DEFAULTS.lead_fields;
    // The owner's prompt for this situation, else their prompt for every one, else the English.
    const situation = { before: "lead_prompt_before", handoff: "lead_prompt_handoff", unavailable: "lead_prompt_unavailable" }[reason];
    const intro = (situation && T(situation, null)) || T("lead_prompt", null) || (
      reason === "before"
        ? "Before we start, please tell us how to reach you."
        : reason === "handoff"
          ? "Want a person from our team to follow up? Leave your details and we'll get back to you."
          : reason === "unavailable"
            ? "The assistant can't answer right now. Leave your details and our team will get back to you."
            : "Leave your details and we'll get back to you.");
    const field = (name, label, type, autocomplete, required) => {
      const inp = h("input", {
        type, name, autocomplete, required, "aria-required": required ? "true" : null,
        "data-testid": "lead-" + name, maxlength: name === "phone" ? 40 : 200, dir: "auto",
      });
      return [h("label", null, [label + (required ? " *" : ""), inp]), inp];
    };
    // With a phone field, the visitor leaves an address or a number (either will do); without
    // one, the address is required.
    const either = fields.includes("phone");
    const [emailL, email] = field("email", T("email_label", "Email"), "email", "email", !either);
    const [nameL, name] = fields.includes("name") ? field("name", T("name_label", "Name"), "text", "name", false) : [null, null];
    const [phoneL, phone] = either ? field("phone", T("phone_label", "Phone"), "tel", "tel", false) : [null, null];
    const msg = h("div", { class: "msgerr", role: "alert" });
    const submitBtn = h("button", { type: "submit", class: "btn", "data-testid": "lead-submit", text: T("send_button", "Send") });
    const skip = !blocking && h("button", {
      type: "button", class: "btn2", "data-testid": "lead-skip", text: T("skip_button", "Not now"),
      onclick: () => {
        leadDismissed = true;
        hideLead();
        ui.input.focus();
      },
    });
    const form = h("form", { class: "lead", "data-testid": "lead-form", novalidate: true, "aria-label": T("lead_form_label", "Contact details") }, [
      h("p", { text: intro }), emailL, nameL, phoneL, msg, h("div", { class: "row" }, [skip, submitBtn]),
    ]);
    // aria-disabled while it is sent, not disabled: a disabled button with focus drops it to the
    // page's <body> (a keyboard user who pressed Send, refused, had lost their place and Escape).
    let sending = false;
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      if (sending) return;
      const value = email.value.trim();
      const tel = phone ? phone.value.trim() : "";
      const refuse = (input, text) => {
        msg.textContent = text;
        input.setAttribute("aria-invalid", "true");
        input.focus();
      };
      if (either && !value && !tel) return refuse(email, CONTACT_MISSING());
      if ((value || !either) && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(value)) return refuse(email, fieldText("email"));
      email.removeAttribute("aria-invalid");
      // A number alone is all that reaches the visitor: 7 to 15 digits (as the server checks).
      const digits = tel.replace(/[^0-9]/g, "").length;
      if (tel && (!PHONE.test(tel) || (!value && (digits < 7 || digits > 15)))) return refuse(phone, fieldText("phone"));
      if (phone) phone.removeAttribute("aria-invalid");
      msg.textContent = "";
      sending = true;
      submitBtn.setAttribute("aria-disabled", "true");
      const body = {};
      if (value) body.email = value;
      if (name && name.value.trim()) body.name = name.value.trim();
      if (tel) body.phone = tel;
      if (lastUserText) body.message = lastUserText;
      if (conversationId) {
        body.conversation_id = conversationId;
        body.session_id = sessionId;
      }
      try {
        const res = await request("/api/v1/widget/leads", { json: body });
        if (!res.ok) throw await httpError(res);
        // The server's thanks: the owner's words, else the default in the visitor's language (an
        // older server answers none: the owner's words or the English default, as before).
        const sent = await res.json().catch(() => ({}));
        store.set("lead", "1");
        hideLead();
        const thanks = sent && typeof sent.thanks === "string" && sent.thanks.trim() ? sent.thanks : null;
        const m = botMessage({ t: thanks || F("lead_thanks", "Thanks! We'll be in touch at {email}.", { email: value || tel }) });
        ui.log.appendChild(m.el);
        m.render();
        toBottom(true);
        if (isOpen) ui.input.focus();
      } catch (err) {
        const e2 = netError(err);
        msg.textContent = leadErrorText(e2);
      } finally {
        sending = false;
        submitBtn.setAttribute("aria-disabled", "false");
      }
    });
    ui.leadSlot.replaceChildren(form);
    if (blocking) {
      ui.compose.hidden = true;
      ui.chips.hidden = true;
    }
    toBottom(true);
    // Focus moves to the form only when it replaces the message box; otherwise the visitor keeps
    // typing their next question where they were (it went into the email field).
    if (blocking && isOpen && ui.panel.contains(ui.shadow.activeElement)) email.focus({ preventScroll: true });
  };

