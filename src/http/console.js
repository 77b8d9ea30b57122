// Parley agent console: the three-panel inbox (conversation list, thread, guest details).
//
// Plain JavaScript, no framework and no build step; the server embeds this file. One module
// object per panel (Header, Notifications, Inbox, Thread, Composer, Details), plus Api (REST),
// Live (the /ws socket) and App (sign-in and boot). Data from the server is only ever put into
// the page with textContent or attributes, never parsed as HTML.
'use strict';

(() => {
  // ------------------------------------------------------------------------------------------
  // Small helpers
  // ------------------------------------------------------------------------------------------

  const $ = (id) => document.getElementById(id);

  /** Creates an element. Strings among `children` become text nodes, so they are never HTML. */
  function el(tag, props = {}, children = []) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === 'class') node.className = value;
      else if (key === 'text') node.textContent = value;
      else if (key.startsWith('on') && typeof value === 'function') {
        node.addEventListener(key.slice(2), value);
      } else node.setAttribute(key, value === true ? '' : String(value));
    }
    for (const child of [].concat(children)) {
      if (child !== null && child !== undefined && child !== false) node.append(child);
    }
    return node;
  }

  function debounce(fn, waitMs) {
    let timer = null;
    return (...args) => {
      clearTimeout(timer);
      timer = setTimeout(() => fn(...args), waitMs);
    };
  }

  /** `?a=1&b=2` from an object, leaving out empty values. */
  function query(params) {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) {
      if (value !== null && value !== undefined && value !== '') search.set(key, value);
    }
    const text = search.toString();
    return text ? '?' + text : '';
  }

  const STATUS_LABELS = {
    bot_handling: 'Bot handling',
    awaiting_agent: 'Awaiting agent',
    agent_assigned: 'Agent assigned',
    resolved: 'Resolved',
    expired: 'Expired',
  };
  /** Delivery statuses only move forward; a late answer must not undo a newer one. */
  const DELIVERY_RANK = { received: 0, pending: 1, sent: 2, delivered: 3, read: 4, failed: 5 };
  const CHANNEL_LABELS = {
    whatsapp_cloud: 'WhatsApp', whatsapp_unofficial: 'WhatsApp (QR)', twilio_whatsapp: 'WhatsApp (Twilio)',
    twilio_sms: 'SMS', instagram: 'Instagram', messenger: 'Messenger', telegram: 'Telegram',
    email: 'Email', webchat: 'Web chat',
  };
  const statusLabel = (status) => STATUS_LABELS[status] || status;
  const channelLabel = (kind) => CHANNEL_LABELS[kind] || kind || 'Unknown';
  const isClosed = (status) => status === 'resolved' || status === 'expired';

  /** `YYYY-MM-DD` of a time in the browser's time zone (the thread's day groups use it too). */
  function localDate(ms) {
    const date = new Date(ms);
    const pad = (n) => String(n).padStart(2, '0');
    return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
  }

  function clockTime(ms) {
    return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  }

  function fullTime(ms) {
    return new Date(ms).toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });
  }

  /** Short age for list rows: "now", "5m", "3h", then "Yesterday", a weekday or a date. */
  function relativeTime(ms) {
    if (!ms) return '';
    const seconds = Math.max(0, (Date.now() - ms) / 1000);
    if (seconds < 60) return 'now';
    if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
    const today = localDate(Date.now());
    if (localDate(ms) === today) return `${Math.floor(seconds / 3600)}h`;
    const yesterday = localDate(Date.now() - 86400000);
    if (localDate(ms) === yesterday) return 'Yesterday';
    if (seconds < 6 * 86400) return new Date(ms).toLocaleDateString([], { weekday: 'short' });
    return new Date(ms).toLocaleDateString([], { day: 'numeric', month: 'short' });
  }

  /** "Today", "Yesterday" or a long date for a thread day header. */
  function dayLabel(date) {
    if (date === localDate(Date.now())) return 'Today';
    if (date === localDate(Date.now() - 86400000)) return 'Yesterday';
    const [year, month, day] = date.split('-').map(Number);
    return new Date(year, month - 1, day).toLocaleDateString([], {
      weekday: 'long', day: 'numeric', month: 'long', year: 'numeric',
    });
  }

  /** Only http(s) links are followed; anything else (javascript:, data:) is shown as text. */
  function safeUrl(raw) {
    try {
      const url = new URL(raw, location.href);
      return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
    } catch {
      return null;
    }
  }

  const MEDIA_LABELS = {
    image: '[Photo]', video: '[Video]', audio: '[Audio]', document: '[Document]', sticker: '[Sticker]',
  };

  /** One line summing a message up, as the server's list preview does. */
  function previewOf(content) {
    if (!content) return '';
    let text;
    switch (content.type) {
      case 'text':
      case 'system':
      case 'choices':
      case 'list':
      case 'cta_url':
        text = content.body; break;
      case 'media': {
        let label = MEDIA_LABELS[content.media_kind] || '[Media]';
        if (content.media_kind === 'audio' && content.voice) label = '[Voice message]';
        if (content.media_kind === 'document' && content.filename) label = `[Document: ${content.filename}]`;
        text = content.caption && content.caption.trim() ? `${label} ${content.caption}` : label;
        break;
      }
      case 'location': {
        const place = content.name || content.address;
        text = place ? `[Location] ${place}` : '[Location]';
        break;
      }
      case 'interactive_reply': text = content.title; break;
      case 'template_button': text = content.text; break;
      case 'reaction': text = content.emoji ? `Reacted ${content.emoji}` : 'Removed a reaction'; break;
      case 'contacts': text = '[Contact card]'; break;
      case 'unsupported': text = '[Unsupported message]'; break;
      case 'template': text = `[Template ${content.name}]`; break;
      default: text = `[${content.type}]`;
    }
    text = String(text || '').split(/\s+/).filter(Boolean).join(' ');
    return text.length > 120 ? text.slice(0, 119) + '…' : text;
  }

  // ------------------------------------------------------------------------------------------
  // Toasts
  // ------------------------------------------------------------------------------------------

  const Toast = {
    timer: null,
    show(message, isError = false) {
      const toast = $('toast');
      toast.textContent = message;
      toast.className = 'toast' + (isError ? ' error' : '');
      toast.setAttribute('role', isError ? 'alert' : 'status');
      toast.hidden = false;
      clearTimeout(this.timer);
      this.timer = setTimeout(() => { toast.hidden = true; }, isError ? 6000 : 3000);
    },
    error(error) {
      this.show(error && error.message ? error.message : String(error), true);
    },
  };

  // ------------------------------------------------------------------------------------------
  // REST
  // ------------------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, code, message, field) {
      super(message);
      this.status = status;
      this.code = code;
      this.field = field;
    }
  }

  const Api = {
    /**
     * Calls `/api/v1{path}` with the session cookie. Errors become ApiError carrying the
     * server's `{"error": {"code", "message"}}`. A 401 outside /auth means the session ended.
     */
    async request(method, path, body) {
      const options = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
      if (body !== undefined) {
        options.headers['Content-Type'] = 'application/json';
        options.body = JSON.stringify(body);
      }
      let response;
      try {
        response = await fetch('/api/v1' + path, options);
      } catch {
        throw new ApiError(0, 'network', 'Parley cannot be reached; check the connection and try again.');
      }
      const text = response.status === 204 ? '' : await response.text();
      let payload = null;
      if (text) {
        try { payload = JSON.parse(text); } catch { payload = null; }
      }
      if (!response.ok) {
        const error = (payload && payload.error) || {};
        if (response.status === 401 && !path.startsWith('/auth/')) App.signedOut(true);
        throw new ApiError(
          response.status,
          error.code || `http_${response.status}`,
          error.message || `The request failed (${response.status}).`,
          error.field,
        );
      }
      return payload;
    },
    get(path) { return this.request('GET', path); },
    post(path, body = {}) { return this.request('POST', path, body); },
    patch(path, body) { return this.request('PATCH', path, body); },
    delete(path) { return this.request('DELETE', path); },
  };

  // ------------------------------------------------------------------------------------------
  // Team members (for names, presence and the Assign menu)
  // ------------------------------------------------------------------------------------------

  const Users = {
    byId: new Map(),
    async load() {
      try {
        const answer = await Api.get('/users');
        this.byId = new Map(answer.data.map((user) => [user.id, user]));
      } catch (error) {
        if (error.status !== 401) console.warn('team members unavailable', error);
      }
    },
    /** Staff who can own conversations (the bot identity cannot). */
    staff() {
      return [...this.byId.values()].filter((user) => user.role !== 'bot')
        .sort((a, b) => a.name.localeCompare(b.name));
    },
    name(id) {
      if (!id) return null;
      if (App.me && id === App.me.id) return 'you';
      const user = this.byId.get(id);
      return user ? user.name : 'another team member';
    },
    setPresence(userId, presence) {
      const user = this.byId.get(userId);
      if (user) user.presence = presence;
    },
  };

  // ------------------------------------------------------------------------------------------
  // Header: who is signed in, presence, sign out
  // ------------------------------------------------------------------------------------------

  const Header = {
    init() {
      $('presence').addEventListener('change', (event) => this.changePresence(event.target.value));
      $('logout').addEventListener('click', () => App.logout());
    },
    show(me) {
      $('me-name').textContent = me.name;
      $('me-name').title = `${me.email} (${me.role})`;
      this.showPresence(me.presence);
    },
    showPresence(presence) {
      $('presence').value = presence;
      $('presence-dot').className = 'presence-dot ' + presence;
    },
    async changePresence(presence) {
      const before = App.me.presence;
      this.showPresence(presence);
      try {
        await Api.patch('/users/me', { presence });
        App.me.presence = presence;
        Users.setPresence(App.me.id, presence);
      } catch (error) {
        this.showPresence(before);
        Toast.error(error);
      }
    },
    connection(state) {
      const node = $('connection');
      node.textContent = state === 'live' ? '' : state === 'connecting' ? 'Connecting…' : 'Offline — reconnecting…';
      node.classList.toggle('down', state === 'down');
    },
  };

  // ------------------------------------------------------------------------------------------
  // Notifications: the bell, its count and its dropdown
  // ------------------------------------------------------------------------------------------

  const Notifications = {
    items: [],
    unread: 0,
    init() {
      $('bell').addEventListener('click', () => this.toggle());
      $('notifications-read-all').addEventListener('click', () => this.readAll());
      document.addEventListener('click', (event) => {
        if (!$('notification-panel').hidden && !event.target.closest('.notifications')) this.toggle(false);
      });
      document.addEventListener('keydown', (event) => {
        if (event.key === 'Escape' && !$('notification-panel').hidden) {
          this.toggle(false);
          $('bell').focus();
        }
      });
    },
    async load() {
      try {
        const answer = await Api.get('/notifications');
        this.items = answer.data;
        this.unread = answer.unread_count;
        this.render();
      } catch (error) {
        if (error.status !== 401) console.warn('notifications unavailable', error);
      }
    },
    toggle(open = $('notification-panel').hidden) {
      $('notification-panel').hidden = !open;
      $('bell').setAttribute('aria-expanded', String(open));
    },
    onCreated(notification) {
      if (this.items.some((item) => item.id === notification.id)) return;
      this.items.unshift(notification);
      if (!notification.read_at) this.unread += 1;
      this.render();
    },
    render() {
      const count = $('bell-count');
      count.hidden = this.unread === 0;
      count.textContent = this.unread > 99 ? '99+' : String(this.unread);
      $('bell').setAttribute('aria-label', `Notifications, ${this.unread} unread`);
      document.title = this.unread ? `(${this.unread}) Parley` : 'Parley';
      const list = $('notification-list');
      list.replaceChildren();
      if (!this.items.length) {
        list.append(el('li', { class: 'empty', text: 'No notifications yet.' }));
        return;
      }
      for (const item of this.items) {
        list.append(el('li', { class: item.read_at ? '' : 'unread' }, [
          el('button', { type: 'button', onclick: () => this.open(item) }, [
            el('span', { class: 'n-title', text: item.title }),
            item.body ? el('span', { class: 'n-body', text: item.body }) : null,
            el('span', { class: 'n-time', text: fullTime(item.created_at) }),
          ]),
        ]));
      }
    },
    async open(item) {
      this.toggle(false);
      if (item.conversation_id) Inbox.select(item.conversation_id);
      if (item.read_at) return;
      try {
        const updated = await Api.post(`/notifications/${encodeURIComponent(item.id)}/read`);
        item.read_at = (updated && updated.read_at) || Date.now();
        this.unread = Math.max(0, this.unread - 1);
        this.render();
      } catch (error) {
        Toast.error(error);
      }
    },
    async readAll() {
      try {
        await Api.post('/notifications/read-all');
        const now = Date.now();
        for (const item of this.items) item.read_at = item.read_at || now;
        this.unread = 0;
        this.render();
      } catch (error) {
        Toast.error(error);
      }
    },
  };

  // ------------------------------------------------------------------------------------------
  // Left panel: the conversation list
  // ------------------------------------------------------------------------------------------

  const Inbox = {
    conversations: new Map(),
    order: [], // ids, newest first
    rows: new Map(), // id -> <li>
    nextCursor: null,
    loadToken: 0,
    refreshing: new Map(), // id -> {again} while GET /conversations/{id} is in flight
    filters: { q: '', status: '', assigned: '', channel: '', archived: 'false' },

    init() {
      const reload = () => this.load();
      $('search').addEventListener('input', debounce((event) => {
        this.filters.q = event.target.value.trim();
        reload();
      }, 250));
      const bind = (id, key) => $(id).addEventListener('change', (event) => {
        this.filters[key] = event.target.value;
        reload();
      });
      bind('filter-status', 'status');
      bind('filter-assigned', 'assigned');
      bind('filter-channel', 'channel');
      bind('filter-archived', 'archived');
      $('load-more').addEventListener('click', () => this.load(false));
      $('conversation-list').addEventListener('keydown', (event) => this.onKey(event));
      // Keep "5m" ages honest without a request.
      setInterval(() => this.renderTimes(), 30000);
    },

    reset() {
      this.conversations.clear();
      this.order = [];
      this.rows.clear();
      this.nextCursor = null;
      $('conversation-list').replaceChildren();
    },

    /** Channel filter: only owners and admins may list channels; others don't get the filter. */
    async loadChannels() {
      try {
        const answer = await Api.get('/channels');
        const select = $('filter-channel');
        const chosen = select.value;
        select.replaceChildren(el('option', { value: '', text: 'All channels' }));
        for (const channel of answer.data) {
          select.append(el('option', {
            value: channel.id, text: `${channel.name} (${channelLabel(channel.kind)})`,
          }));
        }
        select.value = chosen;
        $('filter-channel-label').hidden = answer.data.length < 2;
      } catch {
        $('filter-channel-label').hidden = true;
      }
    },

    params() {
      const { q, status, assigned, channel, archived } = this.filters;
      return { q, status, assigned_to: assigned, channel_id: channel, archived, limit: 50 };
    },

    /** Loads the first page (`fresh`) or the next one. Answers of superseded loads are dropped. */
    async load(fresh = true) {
      const token = ++this.loadToken;
      const params = this.params();
      if (!fresh) params.cursor = this.nextCursor;
      $('load-more').disabled = true;
      try {
        const answer = await Api.get('/conversations' + query(params));
        if (token !== this.loadToken) return;
        if (fresh) this.reset();
        for (const conversation of answer.data) {
          if (!this.conversations.has(conversation.id)) this.order.push(conversation.id);
          this.conversations.set(conversation.id, conversation);
        }
        this.nextCursor = answer.next_cursor;
        this.sort();
        this.render();
      } catch (error) {
        if (token === this.loadToken && error.status !== 401) Toast.error(error);
      } finally {
        if (token === this.loadToken) $('load-more').disabled = false;
      }
    },

    sortAt: (conversation) => conversation.last_message_at || conversation.created_at,

    sort() {
      this.order.sort((a, b) => {
        const left = this.conversations.get(a);
        const right = this.conversations.get(b);
        return (this.sortAt(right) - this.sortAt(left)) || (a < b ? 1 : a > b ? -1 : 0);
      });
    },

    /** Whether a conversation belongs in the list under the current filters. */
    matches(conversation) {
      const { q, status, assigned, channel, archived } = this.filters;
      if (status && !status.split(',').includes(conversation.status)) return false;
      if (assigned === 'me' && conversation.assigned_user_id !== App.me.id) return false;
      if (assigned === 'unassigned' && conversation.assigned_user_id) return false;
      if (channel && conversation.channel_id !== channel) return false;
      if (archived === 'false' && conversation.archived_at) return false;
      if (archived === 'true' && !conversation.archived_at) return false;
      if (q) {
        const contact = conversation.contact || {};
        const inName = (contact.name || '').toLowerCase().includes(q.toLowerCase());
        const digits = q.replace(/\D/g, '');
        const phone = (contact.phone || contact.external_id || '').replace(/\D/g, '');
        if (!inName && !(digits && phone.includes(digits))) return false;
      }
      return true;
    },

    /** Puts a fresh copy of a conversation in the list (or takes it out if it no longer fits). */
    upsert(conversation) {
      const known = this.conversations.has(conversation.id);
      if (!this.matches(conversation)) {
        if (known) this.remove(conversation.id);
        return;
      }
      // Past the loaded pages, a conversation arrives with "Load more" instead.
      if (!known && this.nextCursor && this.order.length) {
        const oldest = this.conversations.get(this.order[this.order.length - 1]);
        if (this.sortAt(conversation) < this.sortAt(oldest)) return;
      }
      if (!known) this.order.push(conversation.id);
      this.conversations.set(conversation.id, conversation);
      this.sort();
      this.render();
    },

    remove(id) {
      if (!this.conversations.has(id)) return;
      this.conversations.delete(id);
      this.order = this.order.filter((other) => other !== id);
      const row = this.rows.get(id);
      if (row) row.remove();
      this.rows.delete(id);
      this.render();
    },

    /** Fetches one conversation again; concurrent calls for the same id collapse into one more. */
    async refresh(id) {
      const pending = this.refreshing.get(id);
      if (pending) {
        pending.again = true;
        return;
      }
      const state = { again: false };
      this.refreshing.set(id, state);
      try {
        do {
          state.again = false;
          try {
            const conversation = await Api.get(`/conversations/${encodeURIComponent(id)}`);
            this.upsert(conversation);
            if (Thread.id === id) Thread.setConversation(conversation);
          } catch (error) {
            if (error.status === 404) {
              this.remove(id);
              if (Thread.id === id) Thread.closeDeleted();
            }
          }
        } while (state.again);
      } finally {
        this.refreshing.delete(id);
      }
    },

    /** A message arrived live: move the row to the top with the new preview and unread count. */
    onMessage(message) {
      const conversation = this.conversations.get(message.conversation_id);
      if (!conversation) {
        this.refresh(message.conversation_id);
        return;
      }
      if (message.sender_kind === 'system') return; // previews skip system lines
      const previous = conversation.last_message;
      if (previous && previous.id === message.id &&
          DELIVERY_RANK[previous.delivery_status] > DELIVERY_RANK[message.delivery_status]) {
        message = { ...message, delivery_status: previous.delivery_status };
      }
      const updated = { ...conversation };
      updated.last_message = {
        id: message.id,
        direction: message.direction,
        sender_kind: message.sender_kind,
        preview: previewOf(message.content),
        delivery_status: message.delivery_status,
        received_at: message.received_at,
      };
      updated.last_message_at = Math.max(conversation.last_message_at || 0, message.received_at);
      const reading = Thread.id === message.conversation_id && Thread.visible();
      const seen = previous && previous.id === message.id;
      if (message.direction === 'inbound' && !reading && !seen) updated.unread_count = (conversation.unread_count || 0) + 1;
      this.upsert(updated);
    },

    onDelivery(update) {
      const conversation = this.conversations.get(update.conversation_id);
      if (conversation && conversation.last_message && conversation.last_message.id === update.message_id) {
        conversation.last_message.delivery_status = update.delivery_status;
        this.renderRow(conversation);
      }
    },

    setUnread(id, count) {
      const conversation = this.conversations.get(id);
      if (conversation && conversation.unread_count !== count) {
        conversation.unread_count = count;
        this.renderRow(conversation);
      }
    },

    select(id) {
      if (location.hash !== '#/conversations/' + id) location.hash = '#/conversations/' + id;
      else Thread.open(id);
    },

    markSelected(id) {
      for (const [rowId, row] of this.rows) row.setAttribute('aria-selected', String(rowId === id));
    },

    render() {
      const list = $('conversation-list');
      // Re-append rows in order; existing rows are reused so focus and scroll mostly survive.
      this.order.forEach((id, index) => {
        const row = this.renderRow(this.conversations.get(id));
        if (list.children[index] !== row) list.insertBefore(row, list.children[index] || null);
      });
      while (list.children.length > this.order.length) list.lastElementChild.remove();
      $('list-empty').hidden = this.order.length > 0;
      $('load-more').hidden = !this.nextCursor;
    },

    renderRow(conversation) {
      let row = this.rows.get(conversation.id);
      if (!row) {
        row = el('li', {
          class: 'conversation-row', role: 'option', tabindex: '0',
          'data-testid': 'conversation-row', 'data-id': conversation.id,
          onclick: () => this.select(conversation.id),
        });
        this.rows.set(conversation.id, row);
      }
      const contact = conversation.contact || {};
      const last = conversation.last_message;
      let preview = last ? last.preview : 'No messages yet';
      if (last && last.sender_kind === 'agent') preview = 'Agent: ' + preview;
      if (last && last.sender_kind === 'bot') preview = 'Bot: ' + preview;
      const unread = conversation.unread_count || 0;
      const name = contact.name || contact.phone || contact.external_id || 'Guest';
      row.classList.toggle('has-unread', unread > 0);
      row.dataset.status = conversation.status;
      row.setAttribute('aria-selected', String(Thread.id === conversation.id));
      row.setAttribute('aria-label',
        `${name}, ${statusLabel(conversation.status)}${unread ? `, ${unread} unread` : ''}: ${preview}`);
      row.replaceChildren(
        el('span', { class: `dot ${conversation.status}`, title: statusLabel(conversation.status) }),
        el('span', { class: 'row-name', text: name }),
        el('time', {
          class: 'row-time', 'data-at': this.sortAt(conversation),
          datetime: new Date(this.sortAt(conversation)).toISOString(),
          title: fullTime(this.sortAt(conversation)), text: relativeTime(this.sortAt(conversation)),
        }),
        el('span', { class: 'row-preview', text: preview }),
        el('span', { class: 'row-meta' }, [
          conversation.archived_at ? el('span', { class: 'channel-badge', text: 'Archived' }) : null,
          el('span', { class: `channel-badge ${conversation.channel_kind}`, text: channelLabel(conversation.channel_kind) }),
          unread ? el('span', { class: 'badge', 'data-testid': 'unread-badge', text: String(unread) }) : null,
        ]),
      );
      return row;
    },

    renderTimes() {
      for (const time of $('conversation-list').querySelectorAll('time[data-at]')) {
        time.textContent = relativeTime(Number(time.dataset.at));
      }
    },

    /** Arrow keys move between rows; Enter or Space opens one. */
    onKey(event) {
      const row = event.target.closest('.conversation-row');
      if (!row) return;
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        this.select(row.dataset.id);
      } else if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
        event.preventDefault();
        const next = event.key === 'ArrowDown' ? row.nextElementSibling : row.previousElementSibling;
        if (next) next.focus();
      }
    },
  };

  // ------------------------------------------------------------------------------------------
  // Center panel: the open conversation
  // ------------------------------------------------------------------------------------------

  const TICKS = {
    pending: ['◷', 'Pending'],
    sent: ['✓', 'Sent'],
    delivered: ['✓✓', 'Delivered'],
    read: ['✓✓', 'Read'],
    failed: ['⚠ Not delivered', 'Failed'],
  };

  const Thread = {
    id: null,
    conversation: null,
    messages: [], // ascending; each {message, day}
    byId: new Map(),
    hasMore: false,
    loadToken: 0,
    typers: new Map(), // user id -> {name, timer}
    reading: false, // a mark-read request is in flight
    readAgain: false,

    init() {
      $('thread-back').addEventListener('click', () => { location.hash = ''; });
      document.addEventListener('visibilitychange', () => {
        if (this.visible()) this.markRead();
      });
    },

    visible() {
      return this.id !== null && document.visibilityState === 'visible';
    },

    async open(id) {
      if (!id) {
        this.close();
        return;
      }
      const token = ++this.loadToken;
      const switching = this.id !== id;
      this.id = id;
      Inbox.markSelected(id);
      document.querySelector('.app').classList.add('has-open');
      $('thread-empty').hidden = true;
      $('thread-view').hidden = false;
      if (switching) {
        this.clearTyping();
        this.conversation = Inbox.conversations.get(id) || null;
        this.messages = [];
        this.byId.clear();
        $('thread').replaceChildren(el('p', { class: 'empty', text: 'Loading…' }));
        if (this.conversation) this.renderHeader();
        Composer.reset();
      }
      try {
        const answer = await Api.get(`/conversations/${encodeURIComponent(id)}/thread` +
          query({ tz_offset_minutes: -new Date().getTimezoneOffset(), limit: 50 }));
        if (token !== this.loadToken) return;
        this.messages = [];
        this.byId.clear();
        this.addDays(answer.days, false);
        this.hasMore = answer.has_more;
        this.setConversation(answer.conversation);
        Inbox.upsert(answer.conversation);
        this.render();
        this.scrollToBottom();
        Details.open(answer.conversation);
        this.markRead(true);
      } catch (error) {
        if (token !== this.loadToken) return;
        if (error.status === 404) {
          Toast.show('That conversation no longer exists.', true);
          Inbox.remove(id);
          location.hash = '';
        } else if (error.status !== 401) {
          $('thread').replaceChildren(el('p', { class: 'empty', text: error.message }));
        }
      }
    },

    close() {
      this.id = null;
      this.conversation = null;
      this.loadToken += 1;
      this.clearTyping();
      Inbox.markSelected(null);
      document.querySelector('.app').classList.remove('has-open');
      $('thread-view').hidden = true;
      $('thread-empty').hidden = false;
      Details.close();
    },

    closeDeleted() {
      Toast.show('This conversation was deleted.');
      location.hash = '';
      this.close();
    },

    /** Adds the server's day groups; `prepend` for older pages. */
    addDays(days, prepend) {
      const entries = [];
      for (const day of days) {
        for (const message of day.messages) {
          if (this.byId.has(message.id)) continue;
          const entry = { message, day: day.date };
          this.byId.set(message.id, entry);
          entries.push(entry);
        }
      }
      this.messages = prepend ? entries.concat(this.messages) : this.messages.concat(entries);
    },

    async loadEarlier(button) {
      if (!this.messages.length) return;
      const id = this.id;
      button.disabled = true;
      try {
        const answer = await Api.get(`/conversations/${encodeURIComponent(id)}/thread` + query({
          tz_offset_minutes: -new Date().getTimezoneOffset(), limit: 50, before: this.messages[0].message.id,
        }));
        if (this.id !== id) return;
        const thread = $('thread');
        const fromBottom = thread.scrollHeight - thread.scrollTop;
        this.addDays(answer.days, true);
        this.hasMore = answer.has_more;
        this.render();
        thread.scrollTop = thread.scrollHeight - fromBottom; // keep the reader's place
      } catch (error) {
        Toast.error(error);
        button.disabled = false;
      }
    },

    setConversation(conversation) {
      if (conversation.id !== this.id) return;
      this.conversation = conversation;
      this.renderHeader();
      Details.update(conversation);
    },

    nearBottom() {
      const thread = $('thread');
      return thread.scrollHeight - thread.scrollTop - thread.clientHeight < 80;
    },

    scrollToBottom() {
      const thread = $('thread');
      thread.scrollTop = thread.scrollHeight;
    },

    /** A live (or just sent) message for the open conversation. */
    onMessage(message) {
      if (message.conversation_id !== this.id) return;
      if (message.sender_id) this.stopTyping(message.sender_id);
      const existing = this.byId.get(message.id);
      if (existing) {
        // The reply's own answer can arrive after the socket's "sent": never step back.
        if (DELIVERY_RANK[existing.message.delivery_status] > DELIVERY_RANK[message.delivery_status]) {
          message = { ...message, delivery_status: existing.message.delivery_status, failure_reason: existing.message.failure_reason };
        }
        existing.message = message;
        const node = $('thread').querySelector(`[data-message-id="${CSS.escape(message.id)}"]`);
        if (node) node.replaceWith(this.renderMessage(message));
        return;
      }
      const stick = this.nearBottom() || message.sender_kind === 'agent';
      const entry = { message, day: localDate(message.received_at) };
      this.byId.set(message.id, entry);
      const last = this.messages[this.messages.length - 1];
      this.messages.push(entry);
      const thread = $('thread');
      const placeholder = thread.querySelector('p.empty');
      if (placeholder) placeholder.remove();
      if (!last || last.day !== entry.day) thread.append(this.renderDay(entry.day));
      thread.append(this.renderMessage(message));
      if (stick) this.scrollToBottom();
      // The server counted it unread; the local count may not have (we were reading).
      if (message.direction === 'inbound') this.markRead(true);
    },

    onDelivery(update) {
      const entry = this.byId.get(update.message_id);
      if (!entry) return;
      entry.message = {
        ...entry.message, delivery_status: update.delivery_status, failure_reason: update.failure_reason,
      };
      const node = $('thread').querySelector(`[data-message-id="${CSS.escape(update.message_id)}"]`);
      if (node) node.replaceWith(this.renderMessage(entry.message));
    },

    /** Marks the open conversation read, when the page is actually in front of someone. */
    async markRead(force = false) {
      if (!this.visible()) return;
      const conversation = Inbox.conversations.get(this.id) || this.conversation;
      if (!force && conversation && !conversation.unread_count) return;
      if (this.reading) {
        this.readAgain = true;
        return;
      }
      this.reading = true;
      const id = this.id;
      try {
        const mark = await Api.post(`/conversations/${encodeURIComponent(id)}/read`);
        Inbox.setUnread(id, mark ? mark.unread_count : 0);
      } catch (error) {
        if (error.status !== 401 && error.status !== 404) console.warn('could not mark read', error);
      } finally {
        this.reading = false;
        if (this.readAgain) {
          this.readAgain = false;
          this.markRead(true);
        }
      }
    },

    render() {
      const thread = $('thread');
      const nodes = [];
      if (this.hasMore) {
        const button = el('button', { type: 'button', class: 'thread-more', text: 'Load earlier messages' });
        button.addEventListener('click', () => this.loadEarlier(button));
        nodes.push(button);
      }
      let day = null;
      for (const entry of this.messages) {
        if (entry.day !== day) {
          day = entry.day;
          nodes.push(this.renderDay(day));
        }
        nodes.push(this.renderMessage(entry.message));
      }
      if (!this.messages.length) nodes.push(el('p', { class: 'empty', text: 'No messages yet.' }));
      thread.replaceChildren(...nodes);
    },

    renderDay(date) {
      return el('div', { class: 'day-header', role: 'separator', text: dayLabel(date) });
    },

    renderMessage(message) {
      const kind = message.sender_kind;
      const failed = message.delivery_status === 'failed';
      const node = el('div', {
        class: `message ${kind}${failed ? ' failed' : ''}`, 'data-testid': 'message',
        'data-sender-kind': kind, 'data-message-id': message.id,
      });
      node.append(el('div', { class: 'bubble' }, this.renderContent(message.content)));
      if (kind === 'system') {
        node.title = fullTime(message.received_at);
        return node;
      }
      // Live events may carry no sender_name; the team list knows the name.
      const agentName = () => {
        if (message.sender_id && message.sender_id === App.me.id) return 'You';
        const user = message.sender_id && Users.byId.get(message.sender_id);
        return message.sender_name || (user && user.name) || 'Agent';
      };
      const sender = kind === 'bot' ? (message.sender_name || 'Bot') : kind === 'agent' ? agentName() : null;
      const meta = el('div', { class: 'message-meta' }, [
        sender ? el('span', { class: 'sender', text: sender }) : null,
        el('time', { datetime: new Date(message.received_at).toISOString(), title: fullTime(message.received_at), text: clockTime(message.received_at) }),
      ]);
      if (message.direction === 'outbound' && TICKS[message.delivery_status]) {
        const [symbol, label] = TICKS[message.delivery_status];
        const detail = failed && message.failure_reason ? `${label}: ${message.failure_reason}` : label;
        meta.append(el('span', {
          class: `ticks ${message.delivery_status}`, title: detail, 'aria-label': detail,
          'data-testid': 'delivery-status', 'data-status': message.delivery_status, text: symbol,
        }));
      }
      node.append(meta);
      return node;
    },

    /** The nodes showing one message's content; unknown kinds show their type. */
    renderContent(content) {
      const text = (value) => document.createTextNode(value == null ? '' : String(value));
      const link = (url, label) => {
        const href = safeUrl(url);
        return href ? el('a', { href, target: '_blank', rel: 'noopener noreferrer', text: label }) : text(label);
      };
      switch (content && content.type) {
        case 'text':
        case 'system':
          return [text(content.body)];
        case 'media': {
          const label = previewOf({ ...content, caption: null });
          return [
            content.url ? link(content.url, label) : el('span', { class: 'content-kind', text: label }),
            content.caption ? el('div', { text: content.caption }) : null,
          ];
        }
        case 'location': {
          const latitude = Number(content.latitude);
          const longitude = Number(content.longitude);
          const place = content.name || content.address || `${latitude.toFixed(5)}, ${longitude.toFixed(5)}`;
          return [
            el('span', { class: 'content-kind', text: 'Location' }),
            link(`https://www.openstreetmap.org/?mlat=${latitude}&mlon=${longitude}#map=16/${latitude}/${longitude}`, place),
            content.name && content.address ? el('div', { class: 'muted', text: content.address }) : null,
          ];
        }
        case 'interactive_reply':
          return [el('span', { class: 'content-kind', text: '↩ Chose' }), text(content.title)];
        case 'template_button':
          return [el('span', { class: 'content-kind', text: '↩ Tapped' }), text(content.text)];
        case 'reaction':
          return [text(previewOf(content))];
        case 'choices':
          return [
            text(content.body),
            el('div', { class: 'choices' }, (content.choices || []).map((choice) =>
              el('span', { class: 'choice', text: choice.title }))),
          ];
        case 'list':
          return [
            text(content.body),
            ...(content.sections || []).map((section) => el('div', { class: 'list-section' }, [
              section.title ? el('strong', { text: section.title }) : null,
              el('ul', {}, (section.rows || []).map((row) => el('li', { text: row.title }))),
            ])),
            content.button ? el('div', { class: 'choices' }, el('span', { class: 'choice', text: content.button })) : null,
          ];
        case 'cta_url':
          return [text(content.body), el('div', { class: 'choices' }, link(content.url, content.button_text || content.url))];
        case 'template':
          return [el('span', { class: 'content-kind', text: 'Template' }), text(content.name)];
        case 'contacts':
          return [el('span', { class: 'content-kind', text: '[Contact card]' })];
        case 'unsupported':
          return [el('span', { class: 'content-kind', text: '[Unsupported message]' }), content.detail ? text(content.detail) : null];
        default:
          return [el('span', { class: 'content-kind', text: `[${content ? content.type : 'empty'}]` })];
      }
    },

    // -- header, actions and banner --------------------------------------------------------

    renderHeader() {
      const conversation = this.conversation;
      if (!conversation) return;
      const contact = conversation.contact || {};
      const me = App.me;
      const manager = App.isManager();
      const status = conversation.status;
      const closed = isClosed(status);
      const ownedByOther = status === 'agent_assigned' && conversation.assigned_user_id &&
        conversation.assigned_user_id !== me.id;
      const mayAct = manager || !ownedByOther;

      $('thread-name').textContent = contact.name || contact.phone || contact.external_id || 'Guest';
      const badge = $('thread-status');
      // The raw status words ("awaiting agent"), as tests and the API spell them.
      badge.textContent = status.replace(/_/g, ' ') + (conversation.archived_at ? ' · archived' : '');
      badge.title = statusLabel(status);
      badge.className = `status-badge ${status}`;
      badge.dataset.status = status;
      $('thread-assignee').textContent = conversation.assigned_user_id
        ? `Assigned to ${Users.name(conversation.assigned_user_id)}` : '';

      const actions = [];
      const button = (action, label, testid, options = {}) => el('button', {
        type: 'button', 'data-testid': testid, class: options.class || null, title: options.title || null,
        onclick: (event) => this.act(action, event.currentTarget, options.body),
      }, label);
      if (mayAct) {
        if (status === 'bot_handling') actions.push(button('take-over', 'Take over', 'action-take-over', { class: 'primary', title: 'Take the conversation from the bot' }));
        if (status === 'awaiting_agent') actions.push(button('claim', 'Claim', 'action-claim', { class: 'primary', title: 'Take ownership of this conversation' }));
        if (!closed) actions.push(button('resolve', 'Resolve', 'action-resolve', { title: 'Done: the next guest message starts a fresh bot conversation' }));
        if (status === 'awaiting_agent' || status === 'agent_assigned') {
          const hand = button('hand-back', 'Hand back to bot', 'action-hand-back', {
            title: conversation.ai_enabled ? 'The bot greets the guest on the next message' : 'Turn the AI on first',
          });
          hand.disabled = !conversation.ai_enabled;
          actions.push(hand);
        }
        if (closed) {
          actions.push(button('reopen', 'Reopen', 'action-reopen', { class: 'primary', title: 'Open it again, assigned to you' }));
          if (!conversation.archived_at) actions.push(button('archive', 'Archive', 'action-archive', { title: 'File it away until the guest writes again' }));
        }
      }
      if (manager && !closed) actions.push(this.assignMenu(conversation));
      if (mayAct) actions.push(this.aiToggle(conversation));
      if (manager) {
        actions.push(el('button', {
          type: 'button', class: 'danger', 'data-testid': 'action-delete', title: 'Delete the conversation with its messages and notes',
          onclick: (event) => this.remove(event.currentTarget),
        }, 'Delete'));
      }
      $('thread-actions').replaceChildren(...actions);
      this.renderBanner(conversation, mayAct);
      Composer.setAllowed(mayAct, ownedByOther
        ? `${Users.name(conversation.assigned_user_id)} owns this conversation; an owner or admin can reassign it.`
        : null);
    },

    assignMenu(conversation) {
      const select = el('select', { 'data-testid': 'action-assign', 'aria-label': 'Assign to a team member' });
      select.append(el('option', { value: '', text: 'Assign to…' }));
      for (const user of Users.staff()) {
        const current = user.id === conversation.assigned_user_id;
        select.append(el('option', {
          value: user.id, disabled: current,
          text: `${user.name}${user.id === App.me.id ? ' (you)' : ''} — ${user.presence}${current ? ' ✓' : ''}`,
        }));
      }
      select.addEventListener('change', () => {
        if (select.value) this.act('assign', select, { user_id: select.value });
      });
      return select;
    },

    aiToggle(conversation) {
      const box = el('input', { type: 'checkbox', 'data-testid': 'action-ai', checked: conversation.ai_enabled });
      box.addEventListener('change', async () => {
        box.disabled = true;
        try {
          const updated = await Api.patch(`/conversations/${encodeURIComponent(conversation.id)}`, { ai_enabled: box.checked });
          this.applyConversation(updated);
        } catch (error) {
          box.checked = !box.checked;
          Toast.error(error);
        } finally {
          box.disabled = false;
        }
      });
      return el('label', {
        class: 'ai-toggle',
        title: conversation.ai_enabled ? 'The bot and AI may answer' : 'Humans only: the bot never answers',
      }, [box, conversation.ai_enabled ? 'AI on' : 'AI off']);
    },

    renderBanner(conversation, mayAct) {
      const banner = $('thread-banner');
      const bannerButton = (action, label, testid) => el('button', {
        type: 'button', class: 'primary', 'data-testid': testid,
        onclick: (event) => this.act(action, event.currentTarget),
      }, label);
      if (conversation.status === 'bot_handling') {
        banner.className = 'banner bot_handling';
        banner.replaceChildren(el('span', { text: 'Bot is handling this conversation.' }),
          mayAct ? bannerButton('take-over', 'Take over', 'banner-take-over') : '');
      } else if (conversation.status === 'awaiting_agent') {
        banner.className = 'banner awaiting_agent';
        banner.replaceChildren(el('span', { text: 'Waiting for an agent to claim this conversation.' }),
          mayAct ? bannerButton('claim', 'Claim', 'banner-claim') : '');
      } else if (isClosed(conversation.status)) {
        banner.className = 'banner info';
        banner.replaceChildren(el('span', {
          text: `This conversation is ${conversation.status}${conversation.archived_at ? ' and archived' : ''}. Replying reopens it.`,
        }));
      } else {
        banner.hidden = true;
        return;
      }
      banner.hidden = false;
    },

    /** Runs a header action (`claim`, `take-over`, `resolve`, …) and shows the new state. */
    async act(action, control, body = {}) {
      const id = this.id;
      const controls = $('thread-view').querySelectorAll('.thread-actions button, .thread-actions select, .banner button');
      controls.forEach((node) => { node.disabled = true; });
      try {
        const conversation = await Api.post(`/conversations/${encodeURIComponent(id)}/${action}`, body);
        this.applyConversation(conversation);
      } catch (error) {
        Toast.error(error);
        if (error.status === 409 || error.status === 403) Inbox.refresh(id);
        else this.renderHeader();
      }
    },

    applyConversation(conversation) {
      Inbox.upsert(conversation);
      this.setConversation(conversation);
    },

    async remove(button) {
      const conversation = this.conversation;
      const name = (conversation.contact && conversation.contact.name) || 'this guest';
      if (!confirm(`Delete the conversation with ${name}, with all its messages and notes? This cannot be undone.`)) return;
      button.disabled = true;
      try {
        await Api.delete(`/conversations/${encodeURIComponent(conversation.id)}`);
        Inbox.remove(conversation.id);
        Toast.show('Conversation deleted.');
        location.hash = '';
      } catch (error) {
        button.disabled = false;
        Toast.error(error);
      }
    },

    // -- others typing ---------------------------------------------------------------------

    onTyping(data) {
      if (data.conversation_id !== this.id || data.user_id === App.me.id) return;
      const typer = this.typers.get(data.user_id);
      if (typer) clearTimeout(typer.timer);
      this.typers.set(data.user_id, {
        name: data.name || 'Someone',
        timer: setTimeout(() => this.stopTyping(data.user_id), 5000),
      });
      this.renderTyping();
    },

    stopTyping(userId) {
      const typer = this.typers.get(userId);
      if (!typer) return;
      clearTimeout(typer.timer);
      this.typers.delete(userId);
      this.renderTyping();
    },

    clearTyping() {
      for (const typer of this.typers.values()) clearTimeout(typer.timer);
      this.typers.clear();
      this.renderTyping();
    },

    renderTyping() {
      const names = [...this.typers.values()].map((typer) => typer.name);
      $('typing').textContent = names.length === 0 ? ''
        : names.length === 1 ? `${names[0]} is typing…`
          : `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]} are typing…`;
    },
  };

  // ------------------------------------------------------------------------------------------
  // Composer and the canned-response picker
  // ------------------------------------------------------------------------------------------

  const TYPING_EVERY_MS = 3000;

  const Composer = {
    sending: false,
    lastTypingAt: 0,
    options: [], // canned responses shown
    active: -1,
    pickerToken: 0,

    init() {
      const area = $('composer');
      $('composer-form').addEventListener('submit', (event) => {
        event.preventDefault();
        this.send();
      });
      area.addEventListener('keydown', (event) => this.onKey(event));
      area.addEventListener('input', () => {
        this.announceTyping();
        this.updatePicker();
      });
      area.addEventListener('blur', () => setTimeout(() => this.closePicker(), 150));
      this.searchCanned = debounce((text) => this.fetchCanned(text), 120);
    },

    reset() {
      $('composer').value = '';
      this.closePicker();
      this.lastTypingAt = 0;
    },

    setAllowed(allowed, note) {
      $('composer').disabled = !allowed;
      $('send').disabled = !allowed || this.sending;
      $('composer-note').hidden = !note;
      $('composer-note').textContent = note || '';
    },

    /** Tells the other consoles, at most every 3 s, that this agent is typing. */
    announceTyping() {
      if (!$('composer').value.trim() || !Thread.id) return;
      const now = Date.now();
      if (now - this.lastTypingAt < TYPING_EVERY_MS) return;
      this.lastTypingAt = now;
      Live.send({ type: 'typing', conversation_id: Thread.id });
    },

    onKey(event) {
      if (event.isComposing) return; // IME composition: Enter picks a character
      const pickerOpen = !$('canned-picker').hidden;
      if (pickerOpen && this.options.length) {
        if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
          event.preventDefault();
          const step = event.key === 'ArrowDown' ? 1 : -1;
          this.highlight((this.active + step + this.options.length) % this.options.length);
          return;
        }
        if (event.key === 'Enter' || event.key === 'Tab') {
          event.preventDefault();
          this.choose(Math.max(0, this.active));
          return;
        }
      }
      if (pickerOpen && event.key === 'Escape') {
        event.preventDefault();
        this.closePicker();
        return;
      }
      if (event.key === 'Enter' && !event.shiftKey) {
        event.preventDefault();
        this.send();
      }
    },

    async send() {
      const area = $('composer');
      const text = area.value.trim();
      const id = Thread.id;
      if (!text || !id || this.sending || area.disabled) return;
      this.sending = true;
      $('send').disabled = true;
      try {
        const message = await Api.post(`/conversations/${encodeURIComponent(id)}/messages`, { text });
        if (Thread.id === id) area.value = '';
        this.lastTypingAt = 0;
        Thread.onMessage(message);
        Inbox.onMessage(message);
        // A reply makes the sender the owner; pick up the new status even if the socket is down.
        Inbox.refresh(id);
      } catch (error) {
        Toast.error(error);
      } finally {
        this.sending = false;
        $('send').disabled = area.disabled;
        area.focus();
      }
    },

    // -- canned responses: typing "/" at the start of the reply ------------------------------

    updatePicker() {
      const value = $('composer').value;
      const match = /^\/\S*$/.exec(value);
      if (!match) {
        this.closePicker();
        return;
      }
      this.searchCanned(value);
    },

    async fetchCanned(text) {
      const token = ++this.pickerToken;
      try {
        const answer = await Api.get('/canned-responses' + query({ q: text === '/' ? '' : text }));
        if (token !== this.pickerToken || $('composer').value !== text) return;
        this.options = answer.canned_responses.slice(0, 20);
        this.renderPicker();
      } catch (error) {
        if (error.status !== 401) console.warn('canned responses unavailable', error);
      }
    },

    renderPicker() {
      const picker = $('canned-picker');
      const area = $('composer');
      if (!this.options.length) {
        picker.replaceChildren(el('div', { class: 'canned-empty', text: 'No canned response matches.' }));
      } else {
        picker.replaceChildren(...this.options.map((option, index) => el('div', {
          id: `canned-option-${index}`, class: 'canned-option', role: 'option', 'aria-selected': 'false',
          'data-testid': 'canned-option',
          // mousedown, not click: it runs before the textarea's blur closes the picker
          onmousedown: (event) => {
            event.preventDefault();
            this.choose(index);
          },
        }, [
          option.shortcut ? el('span', { class: 'shortcut', text: option.shortcut }) : null,
          el('strong', { text: option.title }),
          el('span', { class: 'snippet', text: option.content }),
        ])));
      }
      picker.hidden = false;
      area.setAttribute('aria-expanded', 'true');
      this.highlight(this.options.length ? 0 : -1);
    },

    highlight(index) {
      this.active = index;
      const picker = $('canned-picker');
      picker.querySelectorAll('.canned-option').forEach((node, position) => {
        node.setAttribute('aria-selected', String(position === index));
        if (position === index) node.scrollIntoView({ block: 'nearest' });
      });
      if (index >= 0) $('composer').setAttribute('aria-activedescendant', `canned-option-${index}`);
      else $('composer').removeAttribute('aria-activedescendant');
    },

    choose(index) {
      const option = this.options[index];
      if (!option) return;
      const area = $('composer');
      area.value = option.content;
      this.closePicker();
      area.focus();
      area.setSelectionRange(area.value.length, area.value.length);
    },

    closePicker() {
      this.pickerToken += 1;
      this.options = [];
      this.active = -1;
      $('canned-picker').hidden = true;
      $('composer').setAttribute('aria-expanded', 'false');
      $('composer').removeAttribute('aria-activedescendant');
    },
  };

  // ------------------------------------------------------------------------------------------
  // Right panel: guest, AI insights, internal notes
  // ------------------------------------------------------------------------------------------

  const Details = {
    id: null,
    token: 0,

    init() {
      $('insight-generate').addEventListener('click', () => this.generate());
      $('note-form').addEventListener('submit', (event) => {
        event.preventDefault();
        this.addNote();
      });
      $('note-body').addEventListener('keydown', (event) => {
        if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
          event.preventDefault();
          this.addNote();
        }
      });
    },

    open(conversation) {
      const switching = this.id !== conversation.id;
      this.id = conversation.id;
      $('detail-empty').hidden = true;
      $('detail-view').hidden = false;
      this.update(conversation);
      if (!switching) return;
      const token = ++this.token;
      $('insight-body').replaceChildren(el('p', { class: 'muted', text: 'Loading…' }));
      $('notes-list').replaceChildren();
      $('note-body').value = '';
      this.loadInsight(token);
      this.loadNotes(token);
    },

    close() {
      this.id = null;
      this.token += 1;
      $('detail-empty').hidden = false;
      $('detail-view').hidden = true;
    },

    update(conversation) {
      if (conversation.id !== this.id) return;
      const contact = conversation.contact || {};
      $('guest-name').textContent = contact.name || '—';
      $('guest-phone').textContent = contact.phone || contact.external_id || '—';
      $('guest-channel').textContent = channelLabel(conversation.channel_kind);
      $('guest-since').textContent = fullTime(conversation.created_at);
    },

    async loadInsight(token) {
      try {
        const answer = await Api.get(`/conversations/${encodeURIComponent(this.id)}/insights`);
        if (token === this.token) this.renderInsight(answer.insight);
      } catch (error) {
        if (token === this.token) $('insight-body').replaceChildren(el('p', { class: 'muted', text: error.message }));
      }
    },

    renderInsight(insight) {
      const body = $('insight-body');
      if (!insight) {
        body.replaceChildren(el('p', { class: 'muted', text: 'No insights yet.' }));
        $('insight-generate').textContent = 'Generate insights';
        return;
      }
      const score = typeof insight.sentiment_score === 'number' ? ` (${insight.sentiment_score.toFixed(2)})` : '';
      body.replaceChildren(
        el('p', {}, ['Sentiment: ', el('span', { class: `sentiment ${insight.sentiment}`, 'data-testid': 'sentiment', text: insight.sentiment + score })]),
        el('p', { 'data-testid': 'summary', text: insight.summary || 'No summary.' }),
        el('p', { class: 'muted', text: `Generated ${fullTime(insight.generated_at)}` }),
      );
      $('insight-generate').textContent = 'Regenerate insights';
    },

    async generate() {
      const id = this.id;
      const button = $('insight-generate');
      button.disabled = true;
      try {
        const answer = await Api.post(`/conversations/${encodeURIComponent(id)}/insights`);
        if (id === this.id) this.renderInsight(answer.insight);
      } catch (error) {
        Toast.error(error);
      } finally {
        button.disabled = false;
      }
    },

    async loadNotes(token) {
      try {
        const answer = await Api.get(`/conversations/${encodeURIComponent(this.id)}/notes`);
        if (token !== this.token) return;
        $('notes-list').replaceChildren(...answer.notes.map((note) => this.renderNote(note)));
      } catch (error) {
        if (token === this.token) $('notes-list').replaceChildren(el('li', { class: 'muted', text: error.message }));
      }
    },

    renderNote(note) {
      return el('li', { 'data-testid': 'note' }, [
        el('div', { class: 'note-body', text: note.body }),
        el('div', { class: 'note-meta', text: `${note.author_name || 'Staff'} · ${fullTime(note.created_at)}` }),
      ]);
    },

    async addNote() {
      const area = $('note-body');
      const body = area.value.trim();
      const id = this.id;
      if (!body || !id) return;
      const button = $('note-form').querySelector('button');
      button.disabled = true;
      try {
        const note = await Api.post(`/conversations/${encodeURIComponent(id)}/notes`, { body });
        if (id === this.id) {
          $('notes-list').append(this.renderNote(note));
          area.value = '';
        }
      } catch (error) {
        Toast.error(error);
      } finally {
        button.disabled = false;
      }
    },
  };

  // ------------------------------------------------------------------------------------------
  // Live: the /ws socket, with replay after a reconnect
  // ------------------------------------------------------------------------------------------

  const Live = {
    socket: null,
    lastSeq: null, // the last event applied; replay asks for everything after it
    attempts: 0,
    timer: null,
    stopped: true,
    commandId: 0,

    start() {
      this.stopped = false;
      this.lastSeq = null;
      this.connect();
    },

    stop() {
      this.stopped = true;
      clearTimeout(this.timer);
      if (this.socket) this.socket.close(1000, 'signed out');
      this.socket = null;
    },

    connect() {
      if (this.stopped) return;
      Header.connection('connecting');
      const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
      const since = this.lastSeq !== null ? '?since=' + this.lastSeq : '';
      const socket = new WebSocket(`${scheme}://${location.host}/ws${since}`);
      this.socket = socket;
      socket.addEventListener('message', (event) => {
        let frame;
        try { frame = JSON.parse(event.data); } catch { return; }
        try {
          this.dispatch(frame);
        } catch (error) {
          console.error('could not apply a live event', frame, error);
        }
      });
      socket.addEventListener('close', () => {
        if (this.socket !== socket) return;
        this.socket = null;
        if (this.stopped) return;
        Header.connection('down');
        this.reconnectLater();
      });
    },

    /** Backoff 1 s, 2 s, 4 s … 30 s with jitter; after two failures, check the session first. */
    reconnectLater() {
      const delay = Math.min(30000, 1000 * 2 ** this.attempts) * (0.75 + Math.random() * 0.5);
      this.attempts += 1;
      clearTimeout(this.timer);
      this.timer = setTimeout(async () => {
        if (this.attempts > 2) {
          try {
            await Api.get('/auth/me');
          } catch (error) {
            if (error.status === 401) {
              App.signedOut(true);
              return;
            }
          }
        }
        this.connect();
      }, delay);
    },

    send(command) {
      if (!this.socket || this.socket.readyState !== WebSocket.OPEN) return false;
      this.commandId += 1;
      this.socket.send(JSON.stringify({ id: 'c' + this.commandId, ...command }));
      return true;
    },

    dispatch(frame) {
      switch (frame.type) {
        case 'hello':
          this.attempts = 0;
          // On a reconnect the missed events follow the hello; only a first connection
          // starts from the server's current position.
          this.helloSeq = frame.seq;
          if (this.lastSeq === null) {
            this.lastSeq = frame.seq;
            // The first reads ran beside this connection: what was committed between them and
            // this position arrives neither in them nor live. Read again from here (the inbox
            // keeps only its latest answer).
            Inbox.load();
            Notifications.load();
          } else if (frame.seq < this.lastSeq) {
            // The server's log is behind what we saw (a restored database): start over.
            this.lastSeq = frame.seq;
            App.reloadAll();
          }
          Header.connection('live');
          return;
        case 'resync':
          // The log no longer holds what we missed: start over from the server's position.
          this.lastSeq = this.helloSeq;
          App.reloadAll();
          return;
        case 'typing':
          Thread.onTyping(frame.data);
          return;
        case 'contact.typing':
          // The guest typing (web chat) shows like a colleague typing.
          Thread.onTyping({ conversation_id: frame.data.conversation_id, user_id: 'contact', name: 'The guest' });
          return;
        case 'ack':
          return;
        case 'error':
          console.warn('console command failed', frame.error);
          return;
        default:
          break;
      }
      if (typeof frame.seq === 'number') {
        if (this.lastSeq !== null && frame.seq <= this.lastSeq) return; // already applied
        this.lastSeq = frame.seq;
      }
      const data = frame.data || {};
      switch (frame.type) {
        case 'message.created':
          Inbox.onMessage(data);
          Thread.onMessage(data);
          // System lines mark handovers; some (assign, archive, the AI switch) keep the status,
          // and `conversation.updated` only comes with a new status, so look again.
          if (data.sender_kind === 'system') Inbox.refresh(data.conversation_id);
          break;
        case 'message.updated':
          Inbox.onDelivery(data);
          Thread.onDelivery(data);
          break;
        case 'conversation.updated':
          Inbox.refresh(data.conversation_id);
          break;
        case 'conversation.deleted':
          Inbox.remove(data.conversation_id);
          if (Thread.id === data.conversation_id) Thread.closeDeleted();
          break;
        case 'presence.changed':
          Users.setPresence(data.user_id, data.presence);
          if (App.me && data.user_id === App.me.id) {
            App.me.presence = data.presence;
            Header.showPresence(data.presence);
          }
          break;
        case 'notification.created':
          if (App.me && data.user_id === App.me.id && data.notification) Notifications.onCreated(data.notification);
          break;
        case 'channel.updated':
          Inbox.loadChannels();
          Channels.onChanged();
          break;
        default:
          break; // events this console does not show
      }
    },
  };

  // ------------------------------------------------------------------------------------------
  // Channels (owners and admins): each channel's health, and pairing numbers by QR code
  // ------------------------------------------------------------------------------------------

  const CHANNEL_STATUS_LABELS = {
    connected: 'Connected', pending_verification: 'Waiting for setup', needs_reconnect: 'Needs reconnect',
    error: 'Failed', disconnected: 'Disconnected',
  };
  /** How often an open QR code is read again: the provider rotates it every half minute or so. */
  const QR_REFRESH_MS = 3000;

  const Channels = {
    open: false,
    /** Channel id → its pairing poll timer, while its QR code is shown. */
    pairing: new Map(),

    init() {
      $('open-channels').addEventListener('click', () => this.show());
      $('channels-close').addEventListener('click', () => this.hide());
      $('channels-dialog').addEventListener('click', (event) => {
        if (event.target === $('channels-dialog')) this.hide();
      });
      document.addEventListener('keydown', (event) => {
        if (event.key === 'Escape' && this.open) this.hide();
      });
      $('add-unofficial-form').addEventListener('submit', (event) => {
        event.preventDefault();
        this.addUnofficial();
      });
    },

    show() {
      this.open = true;
      $('channels-dialog').hidden = false;
      $('channels-close').focus();
      this.load();
    },

    hide() {
      this.open = false;
      $('channels-dialog').hidden = true;
      this.stopPairing();
      $('open-channels').focus();
    },

    stopPairing(id) {
      for (const [channelId, timer] of this.pairing) {
        if (id && channelId !== id) continue;
        clearTimeout(timer);
        this.pairing.delete(channelId);
      }
    },

    async load() {
      if (!this.open) return;
      try {
        const answer = await Api.get('/channels');
        if (this.open) this.render(answer.data);
      } catch (error) {
        Toast.error(error);
      }
    },

    /** What names the account: the number, the handle, the domain. */
    identity(channel) {
      const meta = channel.metadata || {};
      const config = channel.config || {};
      return meta.phone_number || meta.display_phone_number || config.phone_number
        || (meta.username ? '@' + meta.username : null) || config.domain || config.from || '';
    },

    render(channels) {
      this.stopPairing();
      const list = $('channel-cards');
      list.replaceChildren(...channels.map((channel) => this.card(channel)));
      if (!channels.length) list.append(el('li', { class: 'muted', text: 'No channels yet.' }));
    },

    card(channel) {
      const badges = [
        el('span', { class: 'pill ' + channel.status, text: CHANNEL_STATUS_LABELS[channel.status] || channel.status }),
      ];
      if (channel.webhook_attached) badges.push(el('span', { class: 'pill ok', text: '✓ Webhook attached' }));
      if (channel.verified) badges.push(el('span', { class: 'pill verified', text: '✓ Verified' }));
      if (!channel.active) badges.push(el('span', { class: 'pill', text: 'Switched off' }));
      const card = el('li', { class: 'channel-card', 'data-testid': 'channel-card', 'data-channel-id': channel.id }, [
        el('div', { class: 'title' }, [
          el('strong', { text: channel.name }),
          el('span', { class: 'identity', text: `${channelLabel(channel.kind)} ${this.identity(channel)}`.trim() }),
          ...badges,
        ]),
      ]);
      if (channel.status_reason && channel.status !== 'connected') {
        card.append(el('p', { class: 'reason', text: channel.status_reason, 'data-testid': 'channel-reason' }));
      }
      if (channel.embed_snippet) {
        card.append(el('div', { class: 'muted', text: 'Put this line on your website:' }),
          el('code', { text: channel.embed_snippet }));
      }
      if (channel.kind === 'whatsapp_unofficial' && channel.status !== 'connected') {
        const area = el('div', { class: 'pairing', 'data-testid': 'pairing' });
        card.append(area);
        if (channel.status === 'pending_verification') {
          area.append(el('span', { class: 'muted', text: 'Loading the QR code…' }));
          this.poll(channel.id, area);
        } else {
          card.append(el('div', { class: 'actions' }, [
            el('button', {
              type: 'button', class: 'primary', text: 'Try again with a new QR code',
              'data-testid': 'pairing-retry', onclick: () => this.retry(channel.id),
            }),
          ]));
        }
      }
      return card;
    },

    /** Shows the channel's current QR code and reads it again until the phone scans it. */
    async poll(id, area) {
      this.pairing.delete(id);
      let answer;
      try {
        answer = await Api.get(`/channels/${encodeURIComponent(id)}/qr`);
      } catch (error) {
        if (!this.open || !area.isConnected) return;
        area.replaceChildren(el('span', { class: 'reason', text: error.message }));
        return;
      }
      if (!this.open || !area.isConnected) return;
      if (answer.state === 'open') {
        this.load();
        return;
      }
      const qr = answer.qr || {};
      const image = safeUrl(qr.base64) || (/^data:image\/png;base64,[A-Za-z0-9+/=]+$/.test(qr.base64 || '') ? qr.base64 : null);
      area.replaceChildren(
        image ? el('img', { src: image, alt: 'QR code to scan with WhatsApp', 'data-testid': 'pairing-qr' })
          : el('span', { class: 'muted', text: 'The provider has no QR code yet.' }),
        el('div', {}, [
          el('p', { text: 'On the phone: WhatsApp → Settings → Linked devices → Link a device, then scan this code.' }),
          qr.pairing_code ? el('p', {}, [
            document.createTextNode('Or link with the phone number and this code: '),
            el('span', { class: 'code', text: qr.pairing_code, 'data-testid': 'pairing-code' }),
          ]) : null,
          qr.count ? el('p', { class: 'muted', text: `Code ${qr.count} — it changes by itself; keep this open.`, 'data-testid': 'pairing-count' }) : null,
        ].filter(Boolean)),
      );
      this.pairing.set(id, setTimeout(() => this.poll(id, area), QR_REFRESH_MS));
    },

    async retry(id) {
      try {
        await Api.post(`/channels/${encodeURIComponent(id)}/reconnect`, {});
      } catch (error) {
        Toast.error(error);
      }
      this.load();
    },

    async addUnofficial() {
      const name = $('unofficial-name').value.trim();
      const phone = $('unofficial-phone').value.trim();
      const label = $('unofficial-label').value.trim();
      const config = {};
      if (phone) config.phone_number = phone;
      if (label) config.label = label;
      const submit = $('add-unofficial-form').querySelector('button[type=submit]');
      submit.disabled = true;
      try {
        await Api.post('/channels', { kind: 'whatsapp_unofficial', name, config });
        $('add-unofficial-form').reset();
        $('add-unofficial-form').closest('details').open = false;
        Inbox.loadChannels();
        await this.load();
      } catch (error) {
        Toast.error(error);
      } finally {
        submit.disabled = false;
      }
    },

    /** A channel changed somewhere (a scan, a reconnect): show it as it is now. */
    onChanged() {
      if (this.open) this.load();
    },
  };

  // ------------------------------------------------------------------------------------------
  // App: sign-in, boot, routing by #/conversations/<id>
  // ------------------------------------------------------------------------------------------

  const App = {
    me: null,

    isManager() {
      return this.me && (this.me.role === 'owner' || this.me.role === 'admin');
    },

    async boot() {
      Header.init();
      Notifications.init();
      Inbox.init();
      Thread.init();
      Composer.init();
      Details.init();
      Channels.init();
      $('login-form').addEventListener('submit', (event) => {
        event.preventDefault();
        this.login();
      });
      window.addEventListener('hashchange', () => this.route());
      try {
        this.signedIn(await Api.get('/auth/me'));
      } catch (error) {
        this.showLogin(error.status === 401 ? null : error.message);
      }
    },

    showLogin(message) {
      $('boot').hidden = true;
      $('app').hidden = true;
      $('login-view').hidden = false;
      $('login-error').hidden = !message;
      $('login-error').textContent = message || '';
      $('login-password').value = '';
      $('login-email').focus();
    },

    async login() {
      const email = $('login-email').value.trim();
      const password = $('login-password').value;
      const error = $('login-error');
      if (!email || !password) {
        error.textContent = 'Enter your email and password.';
        error.hidden = false;
        return;
      }
      $('login-submit').disabled = true;
      try {
        const answer = await Api.post('/auth/login', { email, password });
        error.hidden = true;
        this.signedIn(answer.user);
      } catch (failure) {
        error.textContent = failure.message;
        error.hidden = false;
        $('login-password').select();
      } finally {
        $('login-submit').disabled = false;
      }
    },

    async signedIn(me) {
      this.me = me;
      $('boot').hidden = true;
      $('login-view').hidden = true;
      $('app').hidden = false;
      Header.show(me);
      $('open-channels').hidden = !this.isManager();
      Live.start();
      await Promise.all([Users.load(), Inbox.loadChannels(), Notifications.load(), Inbox.load()]);
      if (this.me !== me) return; // signed out meanwhile
      if (Thread.conversation) Thread.renderHeader(); // names and Assign menu now known
      this.route();
    },

    /** The open conversation lives in the URL hash so reloads and links keep it. */
    route() {
      if (!this.me) return;
      const match = /^#\/conversations\/([^/]+)$/.exec(location.hash);
      const id = match ? decodeURIComponent(match[1]) : null;
      if (id) {
        if (id !== Thread.id) Thread.open(id);
      } else if (Thread.id) {
        Thread.close();
      }
    },

    /** After a `resync`: everything shown may be stale. */
    reloadAll() {
      Users.load();
      Notifications.load();
      Inbox.load();
      if (Thread.id) Thread.open(Thread.id);
    },

    async logout() {
      try {
        await Api.post('/auth/logout');
      } catch (error) {
        if (error.status !== 401) {
          Toast.error(error);
          return;
        }
      }
      this.signedOut(false);
    },

    /** Leaves the inbox for the sign-in form; `expired` when the server ended the session. */
    signedOut(expired) {
      if (!this.me) return;
      this.me = null;
      Channels.hide();
      Live.stop();
      Thread.close();
      Inbox.reset();
      Notifications.items = [];
      Notifications.unread = 0;
      Notifications.render();
      this.showLogin(expired ? 'Your session has ended; sign in again.' : null);
    },
  };

  document.addEventListener('DOMContentLoaded', () => App.boot());
})();
