// Private: incremental text/event-stream parser (the WHATWG algorithm, minus reconnection handling).

/** One dispatched event. */
export interface SseEvent {
  event: string;
  data: string;
  id?: string;
}

/** Feed decoded text chunks; complete events come out of `push`. */
export class SseParser {
  #buf = "";
  #data: string[] = [];
  #event = "";
  #id: string | undefined;

  push(chunk: string): SseEvent[] {
    this.#buf += chunk;
    const out: SseEvent[] = [];
    let start = 0;
    for (;;) {
      const nl = this.#buf.indexOf("\n", start);
      if (nl < 0) break;
      let line = this.#buf.slice(start, nl);
      start = nl + 1;
      if (line.endsWith("\r")) line = line.slice(0, -1);
      if (line === "") {
        if (this.#data.length > 0) out.push({ event: this.#event || "message", data: this.#data.join("\n"), id: this.#id });
        this.#data = [];
        this.#event = "";
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "data") this.#data.push(value);
      else if (field === "event") this.#event = value;
      else if (field === "id") this.#id = value;
    }
    this.#buf = this.#buf.slice(start);
    return out;
  }
}
