// Parses `WWW-Authenticate` (RFC 7235): a list of challenges, each a scheme and `key=value` / `key="quoted"`
// parameters. Registries send `Bearer realm="…",service="…",scope="…"` for the anonymous token flow.

export interface Challenge {
  /** Lowercase: `bearer`, `basic`, … */
  scheme: string;
  /** Parameter names lowercase; values unquoted. */
  params: Record<string, string>;
}

/** Every challenge in the header value(s); malformed trailing parts are dropped rather than thrown on. */
export function parseChallenges(header: string | readonly string[] | undefined): Challenge[] {
  if (header === undefined) return [];
  if (typeof header !== 'string') return header.flatMap((value) => parseChallenges(value));
  const out: Challenge[] = [];
  let at = 0;
  const text = header;
  const skip = (pattern: RegExp): void => {
    while (at < text.length && pattern.test(text[at] ?? '')) at++;
  };
  const token = (): string => {
    const match = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/.exec(text.slice(at));
    if (!match) return '';
    at += match[0].length;
    return match[0];
  };
  let current: Challenge | undefined;
  while (at < text.length) {
    skip(/[\s,=]/); // '=' too: the padding of a token68 credential
    const start = at;
    const name = token();
    if (!name) break;
    skip(/\s/);
    if (text[at] !== '=' || current === undefined) {
      // A token not followed by `=` starts a new challenge (a scheme); so does the very first token.
      if (text[at] === '=' && current === undefined) {
        at = start;
        break;
      }
      current = { scheme: name.toLowerCase(), params: {} };
      out.push(current);
      // token68 form (`Basic dXNlcg==`): no parameters to read.
      continue;
    }
    at++; // '='
    skip(/\s/);
    let value = '';
    if (text[at] === '"') {
      at++;
      while (at < text.length && text[at] !== '"') {
        if (text[at] === '\\' && at + 1 < text.length) at++;
        value += text[at];
        at++;
      }
      at++; // closing quote
    } else {
      value = token();
    }
    current.params[name.toLowerCase()] = value;
  }
  return out;
}

/** The Bearer challenge with a realm, if any: the only kind an anonymous client can answer. */
export function bearerChallenge(header: string | readonly string[] | undefined): Challenge | undefined {
  return parseChallenges(header).find((challenge) => challenge.scheme === 'bearer' && challenge.params['realm'] !== undefined);
}
