/**
 * The login page: a user name and password, or the one-time token of the link the start banner prints. The
 * token travels in the URL fragment, which browsers never send to a server (so no request log or Referer
 * holds it); it is posted once and wiped from the address bar and history.
 */

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the page has no #${id}`);
  return found as T;
}

const form = element<HTMLFormElement>('login-form');
const errorLine = element<HTMLParagraphElement>('login-error');

/** Where to go after logging in: only a page of this UI (no other origin, no protocol-relative URL). */
function destination(): string {
  const next = new URLSearchParams(location.search).get('next') ?? '';
  const path = /^\/ui\/[^\\]*$/.test(next) && !next.startsWith('/ui//') ? next : '/ui/';
  // The server's redirect keeps the fragment of the page asked for (`#/flamegraph?…`): keep it too.
  const view = location.hash.startsWith('#/') ? location.hash : '';
  return path + view;
}

function showError(message: string): void {
  errorLine.textContent = message;
  errorLine.hidden = false;
}

async function logIn(body: Record<string, string>): Promise<void> {
  const response = await fetch('/api/auth/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    credentials: 'same-origin',
  });
  if (response.ok) {
    location.replace(destination());
    return;
  }
  const answer = (await response.json().catch(() => ({}))) as { message?: string };
  showError(answer.message ?? `login failed (${response.status})`);
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  errorLine.hidden = true;
  const user = element<HTMLInputElement>('user').value;
  const password = element<HTMLInputElement>('password').value;
  void logIn({ user, password });
});

async function start(): Promise<void> {
  const token = new URLSearchParams(location.hash.slice(1)).get('token');
  if (token) {
    history.replaceState(null, '', location.pathname + location.search);
    await logIn({ token });
    return;
  }
  // Already logged in (a bookmarked link from another site arrives without the SameSite=Strict cookie)?
  const session = await fetch('/api/auth/session', { credentials: 'same-origin' });
  if (session.ok) location.replace(destination());
}

void start();
