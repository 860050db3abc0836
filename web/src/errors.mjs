// The error shape shared by every hypelua surface: {code, message, details, suggestion}.

export class HypeError extends Error {
  /**
   * @param {string} code stable SCREAMING_SNAKE identifier (e.g. "LUA_SYNTAX_ERROR")
   * @param {string} message human-readable message (the Lua message for Lua errors)
   * @param {object} [details] plain-data context
   * @param {string} [suggestion] what to do about it
   */
  constructor(code, message, details = {}, suggestion = "") {
    super(message);
    this.name = "HypeError";
    this.code = code || "HYPE_ERROR";
    this.details = details ?? {};
    this.suggestion = suggestion ?? "";
  }

  /** Build from a plain `{code, message, details, suggestion}` object. */
  static from(obj, fallbackCode = "HYPE_ERROR") {
    if (obj instanceof HypeError) return obj;
    if (obj instanceof Error) return new HypeError(fallbackCode, obj.message, { name: obj.name, stack: obj.stack });
    const o = obj ?? {};
    return new HypeError(o.code || fallbackCode, String(o.message ?? "unknown error"), o.details ?? {}, o.suggestion ?? "");
  }

  toJSON() {
    return { code: this.code, message: this.message, details: this.details, suggestion: this.suggestion };
  }

  toString() {
    return `HypeError [${this.code}] ${this.message}`;
  }
}
