/**
 * A browser's part of a sign-in, by plain HTTP: follows redirects by hand, keeps cookies per host,
 * and fills the identity provider's pages (oidc-provider's development login and consent forms).
 * Stops at the first answer from `stopAt` (the api's callback) and hands it back unread.
 */
export class TestBrowser {
  private readonly jar = new Map<string, Map<string, string>>();
  /** Every URL visited, in order (the last is where it stopped). */
  readonly visited: string[] = [];

  private cookieHeader(url: URL): string {
    const c = this.jar.get(url.host);
    return c ? [...c].map(([k, v]) => `${k}=${v}`).join('; ') : '';
  }

  private keep(url: URL, res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const i = pair!.indexOf('=');
      const name = pair!.slice(0, i).trim();
      const value = pair!.slice(i + 1).trim();
      const jar = this.jar.get(url.host) ?? new Map<string, string>();
      this.jar.set(url.host, jar);
      const gone = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a) || /^\s*expires=.*1970/i.test(a));
      if (gone || value === '') jar.delete(name);
      else jar.set(name, value);
    }
  }

  /** One request, no redirect following; the response's body is left for the caller. */
  async request(url: string, init: { method?: string; form?: Record<string, string>; accept?: string } = {}): Promise<Response> {
    const u = new URL(url);
    this.visited.push(u.href);
    const headers: Record<string, string> = { accept: init.accept ?? 'text/html' };
    const cookie = this.cookieHeader(u);
    if (cookie) headers.cookie = cookie;
    let body: string | undefined;
    if (init.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(init.form).toString();
    }
    const res = await fetch(u, { method: init.method ?? (body ? 'POST' : 'GET'), headers, redirect: 'manual', ...(body ? { body } : {}) });
    this.keep(u, res);
    return res;
  }

  /**
   * From `start` on: follows redirects; on a login page signs in as `login`, on a consent page
   * consents (oidc-provider's development interactions); on the GitHub stand-in's authorize page
   * approves. Returns the first response whose URL starts with `stopAt` (requested with `accept`).
   */
  async signIn(start: string, o: { login: string; stopAt: string; accept?: string }): Promise<{ url: string; res: Response }> {
    let url = start;
    for (let step = 0; step < 20; step++) {
      const atEnd = url.startsWith(o.stopAt);
      const res = await this.request(url, atEnd ? { accept: o.accept ?? 'application/json' } : {});
      if (atEnd) return { url, res };
      if (res.status >= 300 && res.status < 400) {
        url = new URL(res.headers.get('location')!, url).href;
        continue;
      }
      const html = await res.text();
      if (res.status !== 200) throw new Error(`sign-in stopped at ${url}: HTTP ${res.status}: ${html.slice(0, 300)}`);
      const prompt = /name="prompt" value="(\w+)"/.exec(html)?.[1];
      const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
      if (!prompt || !action) throw new Error(`sign-in stopped at ${url}: no form on the page: ${html.slice(0, 300)}`);
      const form: Record<string, string> = prompt === 'login' ? { prompt, login: o.login, password: 'any' } : { prompt };
      const posted = await this.request(new URL(action.replace(/&amp;/g, '&'), url).href, { form });
      if (posted.status < 300 || posted.status >= 400) throw new Error(`submitting ${prompt} at ${url}: HTTP ${posted.status}: ${(await posted.text()).slice(0, 300)}`);
      url = new URL(posted.headers.get('location')!, url).href;
    }
    throw new Error(`sign-in did not reach ${o.stopAt}: ${this.visited.join(' → ')}`);
  }
}
