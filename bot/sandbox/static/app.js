// The sandbox page: act as a person, read and write in their chats, follow changes live.
"use strict";

const state = {
  world: null,
  strings: {},
  language: null,
  person: null,
  shown: null, // the person whose chats are on the screen, once they are
  chat: null,
  replyTo: null,
  seen: {}, // "person:chat" -> seq of the last message seen there
  chats: [],
};
const stringsByLanguage = {};
const $ = (id) => document.getElementById(id);
const COLOURS = ["#e17076", "#7bc862", "#65aadd", "#a695e7", "#ee7aae", "#6ec9cb", "#faa774"];

function t(key, values = {}) {
  let text = state.strings[key] || key;
  for (const [name, value] of Object.entries(values)) text = text.replace(`{${name}}`, value);
  return text;
}

async function api(path, body) {
  const options = body === undefined ? {} : {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  };
  const response = await fetch(path, options);
  if (!response.ok) throw new Error(`${response.status} ${await response.text()}`);
  return response.json();
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function avatar(name, id) {
  const node = element("span", "avatar", name.split(/\s+/).map((w) => w[0] || "").join("").slice(0, 2).toUpperCase());
  node.style.background = COLOURS[Math.abs(id) % COLOURS.length];
  return node;
}

function currentPerson() {
  return state.world.people.find((p) => p.id === state.person);
}

async function useLanguage(language) {
  if (!stringsByLanguage[language]) {
    stringsByLanguage[language] = await api(`/api/strings?lang=${encodeURIComponent(language)}`);
  }
  state.strings = stringsByLanguage[language];
  state.language = language;
  document.documentElement.lang = language;
  for (const node of document.querySelectorAll("[data-text]")) node.textContent = t(node.dataset.text);
}

// -- people -----------------------------------------------------------------------------------

async function loadWorld() {
  state.world = await api(`/api/world?lang=${encodeURIComponent(state.language || "")}`);
  renderPeople();
}

function renderPeople() {
  const list = $("people");
  list.replaceChildren();
  for (const person of state.world.people) {
    const button = element("button");
    button.type = "button";
    button.dataset.person = person.id;
    if (person.id === state.shown) button.classList.add("active");
    const who = element("span", "who");
    who.append(element("div", "name", person.name));
    const roles = element("div", "sub roles");
    for (const role of person.roles) roles.append(element("span", "badge", t(`role_${role}`)));
    who.append(roles, element("div", "sub", person.profile));
    button.append(avatar(person.name, person.id), who);
    button.addEventListener("click", () => choosePerson(person.id));
    const item = element("li");
    item.append(button);
    list.append(item);
  }
}

async function choosePerson(id, chatId) {
  // The chat shown belongs to the person before: nothing may load it as the new one.
  const previous = state.chat;
  state.chat = null;
  state.person = id;
  state.shown = null;
  state.replyTo = null;
  state.chats = [];
  renderChats();
  await loadWorld();
  await useLanguage(currentPerson().language);
  await loadWorld();
  $("acting").textContent = t("acting_as", { name: currentPerson().name });
  await loadChats();
  const wanted = chatId ?? (state.chats.some((c) => c.id === previous) ? previous : id);
  await openChat(wanted);
  state.shown = id;
  renderPeople();
}

// -- chats ------------------------------------------------------------------------------------

async function loadChats() {
  state.chats = await api(`/api/chats?as=${state.person}`);
  renderChats();
}

function chatTitle(chat) {
  return chat.private ? state.world.bot.name : chat.title;
}

function renderChats() {
  const list = $("chats");
  list.replaceChildren();
  for (const chat of state.chats) {
    const button = element("button");
    button.type = "button";
    button.dataset.chat = chat.id;
    if (chat.private) button.classList.add("private");
    if (chat.id === state.chat) button.classList.add("active");
    const who = element("span", "who");
    who.append(element("div", "name", chatTitle(chat)));
    who.append(element("div", "sub", chat.last ? `${chat.last.name}: ${chat.last.text}` : t("nothing_yet")));
    if (chat.private) who.append(element("div", "sub", t("private_chat")));
    button.append(avatar(chatTitle(chat), chat.id), who);
    const seen = state.seen[`${state.person}:${chat.id}`] || 0;
    if (chat.last && chat.last.seq > seen && chat.id !== state.chat) button.append(element("span", "unread"));
    button.addEventListener("click", () => openChat(chat.id));
    const item = element("li");
    item.append(button);
    list.append(item);
  }
}

async function openChat(id) {
  if (state.chat !== id) state.replyTo = null;
  state.chat = id;
  $("empty-state").hidden = true;
  $("composer").hidden = false;
  await loadMessages(true);
  renderChats();
  $("text").placeholder = t("placeholder", { name: currentPerson().name });
  renderReplying();
  $("text").focus();
}

// -- messages ---------------------------------------------------------------------------------

async function loadMessages(scroll) {
  const box = $("messages");
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  const data = await api(`/api/chats/${state.chat}/messages?as=${state.person}`);
  const chat = data.chat;
  const title = $("chat-title");
  title.replaceChildren(element("strong", "", chatTitle(chat)));
  title.append(element("span", "sub", chat.private ? `@${state.world.bot.username}` : t("members", { count: chat.members })));
  $("notice").hidden = chat.private || chat.bot_in;
  $("add-bot").hidden = !chat.may_add_bot;
  box.replaceChildren(...data.messages.map(renderMessage));
  if (data.messages.length === 0) {
    const line = element("li", "service");
    line.append(element("span", "", t("nothing_yet")));
    box.append(line);
  }
  if (chat.last) state.seen[`${state.person}:${chat.id}`] = chat.last.seq;
  if (scroll || atBottom) box.scrollTop = box.scrollHeight;
}

function renderMessage(message) {
  const item = element("li", "message-block");
  item.dataset.id = message.id;
  if (message.service) {
    const line = element("div", "service");
    const key = message.service.kind;
    line.append(element("span", "", t(key, { who: message.service.who, whom: message.service.whom })));
    item.append(line);
    return item;
  }
  const mine = message.from.id === state.person;
  const row = element("div", mine ? "message mine" : "message");
  const bubble = element("div", "bubble");
  bubble.dataset.id = message.id;
  if (state.replyTo && state.replyTo.id === message.id) bubble.classList.add("selected");
  if (!mine) bubble.append(element("div", "author", message.from.name));
  if (message.topic) bubble.append(element("div", "topic", `💬 ${message.topic}`));
  if (message.only_for) {
    bubble.classList.add("ephemeral");
    bubble.append(element("div", "only-for", t("only_for", { name: message.only_for })));
  }
  if (message.reply) {
    const quote = element("div", "quote");
    quote.append(element("div", "name", message.reply.name), element("div", "snippet", message.reply.text));
    bubble.append(quote);
  }
  if (message.photo) {
    const figure = element("div", "photo");
    const image = element("img");
    image.src = message.photo;
    image.alt = "photo";
    figure.append(image);
    bubble.append(figure);
  }
  if (message.document) {
    const link = element("a", "document");
    link.href = message.document.url;
    link.download = message.document.name;
    const extension = (message.document.name.split(".").pop() || "").slice(0, 4).toUpperCase();
    const info = element("span");
    info.append(element("div", "file-name", message.document.name));
    info.append(element("div", "sub", `${Math.max(1, Math.round(message.document.size / 1024))} KB · ${t("download")}`));
    link.append(element("span", "icon-file", extension), info);
    bubble.append(link);
  }
  if (message.html) {
    const text = element("div", "text");
    text.innerHTML = message.html; // rendered and escaped by the server from the entities
    bubble.append(text);
  }
  const time = new Date(message.date * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false });
  if (message.reactions) bubble.append(element("div", "reactions", message.reactions.join(" ")));
  bubble.append(element("div", "meta", message.edited ? `${t("edited")} ${time}` : time));
  bubble.addEventListener("click", (event) => {
    if (event.target.closest("a, button, .command")) return;
    state.replyTo = { id: message.id, name: message.from.name };
    for (const node of document.querySelectorAll(".bubble.selected")) node.classList.remove("selected");
    bubble.classList.add("selected");
    renderReplying();
    $("text").focus();
  });
  row.append(bubble);
  item.append(row);
  if (message.buttons.length) item.append(renderKeyboard(message, mine));
  return item;
}

function renderKeyboard(message, mine) {
  const keyboard = element("div", "keyboard");
  if (mine) keyboard.style.marginLeft = "auto";
  for (const buttons of message.buttons) {
    const row = element("div", "row");
    for (const button of buttons) {
      if (button.url) {
        const link = element("a", "", button.text);
        link.href = button.url;
        link.target = "_blank";
        link.rel = "noopener noreferrer";
        row.append(link);
      } else {
        const press = element("button", "", button.text);
        press.type = "button";
        press.addEventListener("click", () => pressButton(message.id, button.data));
        row.append(press);
      }
    }
    keyboard.append(row);
  }
  return keyboard;
}

function renderReplying() {
  const shown = Boolean(state.replyTo);
  $("replying").hidden = !shown;
  if (shown) $("replying-text").textContent = t("reply_to", { name: state.replyTo.name });
  $("cancel-reply").setAttribute("aria-label", t("cancel_reply"));
}

function toast(text, alert) {
  const box = $("toast");
  box.textContent = text;
  box.classList.toggle("alert", Boolean(alert));
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, alert ? 6000 : 3000);
}

// -- acting -----------------------------------------------------------------------------------

async function sendText(text) {
  const body = { as: state.person, text };
  if (state.replyTo) body.reply_to = state.replyTo.id;
  state.replyTo = null;
  renderReplying();
  await api(`/api/chats/${state.chat}/messages`, body);
}

async function pressButton(messageId, data) {
  const answer = await api(`/api/chats/${state.chat}/press`, { as: state.person, message: messageId, data });
  if (answer.text) toast(answer.text, answer.alert);
}

function startLink(href) {
  const username = state.world.bot.username;
  const match = new RegExp(`^https?://t\\.me/${username}\\?start=([A-Za-z0-9_-]+)$`, "i").exec(href);
  return match ? match[1] : null;
}

function offerLink(payload) {
  const list = $("link-people");
  list.replaceChildren();
  // The person acting now first: opening a link oneself is the usual case.
  const people = [...state.world.people].sort((a, b) => (b.id === state.person) - (a.id === state.person));
  for (const person of people) {
    const button = element("button", "", person.id === state.person ? `${person.name} ✓` : person.name);
    button.type = "button";
    button.dataset.person = person.id;
    button.addEventListener("click", async () => {
      $("link-dialog").close();
      await api("/api/open-link", { as: person.id, start: payload });
      await choosePerson(person.id, person.id);
    });
    const item = element("li");
    item.append(button);
    list.append(item);
  }
  $("link-dialog").showModal();
  list.querySelector("button").focus();
}

document.addEventListener("click", (event) => {
  const link = event.target.closest(".bubble a[href]");
  if (link) {
    const payload = startLink(link.getAttribute("href"));
    if (payload) {
      event.preventDefault();
      offerLink(payload);
    }
    return;
  }
  const command = event.target.closest(".bubble .command");
  if (command && state.chat !== null) {
    const name = command.textContent.split("@")[0];
    sendText(name);
  }
});

$("composer").addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = $("text").value.trim();
  if (!text) return;
  $("text").value = "";
  await sendText(text);
});

$("text").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    $("composer").requestSubmit();
  }
});

$("cancel-reply").addEventListener("click", () => {
  state.replyTo = null;
  for (const node of document.querySelectorAll(".bubble.selected")) node.classList.remove("selected");
  renderReplying();
});

$("add-bot").addEventListener("click", () => api(`/api/chats/${state.chat}/add-bot`, { as: state.person }));

// -- live -------------------------------------------------------------------------------------

let refreshing = null;
function refresh(chatId) {
  // Many changes arrive together (a card edited for three mentors): one refresh for them all.
  if (refreshing) return;
  refreshing = setTimeout(async () => {
    refreshing = null;
    if (state.person === null) return;
    const person = state.person;
    try {
      await loadChats();
      if (state.chat !== null && state.person === person) await loadMessages(false);
      await loadWorld();
    } catch (error) {
      // The visitor switched person meanwhile: the next change refreshes the new view.
      console.debug("refresh skipped:", error);
    }
  }, 80);
}

function follow() {
  const events = new EventSource("/api/events");
  events.onmessage = (event) => refresh(JSON.parse(event.data).chat);
}

(async () => {
  await loadWorld();
  await useLanguage(state.world.people[0]?.language || "ru");
  follow();
  const wanted = Number(new URLSearchParams(location.search).get("as"));
  if (state.world.people.some((p) => p.id === wanted)) await choosePerson(wanted);
})();
