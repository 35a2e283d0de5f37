/**
 * ClickUp custom-field values both ways (docs/provider-apis.md §3): a dropdown is set with the option
 * UUID but read back as the option's orderindex; labels take arrays of UUIDs; dates are epoch ms;
 * numbers are numbers; URL, email, phone and text take strings.
 */
export interface ClickUpField {
  id: string;
  name: string;
  type: string;
  type_config?: { options?: { id: string; name?: string; label?: string; orderindex?: number }[] };
}

export type Converted = { ok: true; value: unknown } | { ok: false; error: string };

const optionName = (o: { name?: string; label?: string }) => o.name ?? o.label ?? '';

/** Our value → what ClickUp's `value` takes for this field. */
export function toClickUp(field: ClickUpField, value: unknown): Converted {
  if (value === null || value === undefined) return { ok: true, value: null };
  const options = field.type_config?.options ?? [];
  const pick = (name: unknown) =>
    options.find((o) => optionName(o).toLowerCase() === String(name).trim().toLowerCase());
  switch (field.type) {
    case 'drop_down': {
      const o = pick(value);
      if (!o) {
        return {
          ok: false,
          error: `${field.name}: no dropdown option "${String(value)}" (options: ${options.map(optionName).join(', ')}); add it in ClickUp or map the value`,
        };
      }
      return { ok: true, value: o.id };
    }
    case 'labels':
    case 'label': {
      const names = Array.isArray(value) ? value : [value];
      const ids = names.map(pick);
      const unknown = names.filter((_, i) => !ids[i]);
      if (unknown.length) return { ok: false, error: `${field.name}: no label ${unknown.join(', ')}` };
      return { ok: true, value: ids.map((o) => o!.id) };
    }
    case 'number':
    case 'currency': {
      const n = typeof value === 'number' ? value : Number(value);
      if (!Number.isFinite(n))
        return { ok: false, error: `${field.name}: ${JSON.stringify(value)} is not a number` };
      return { ok: true, value: n };
    }
    case 'checkbox':
      return { ok: true, value: value === true || value === 'true' };
    case 'date': {
      const ms = typeof value === 'number' ? value : Date.parse(String(value));
      if (!Number.isFinite(ms))
        return { ok: false, error: `${field.name}: ${JSON.stringify(value)} is not a date` };
      return { ok: true, value: ms };
    }
    default:
      return { ok: true, value: typeof value === 'string' ? value : JSON.stringify(value) };
  }
}

/** ClickUp's `value` of a task's custom field → our value (dropdown orderindex → option name). */
export function fromClickUp(field: ClickUpField, value: unknown): unknown {
  if (value === null || value === undefined || value === '') return null;
  const options = field.type_config?.options ?? [];
  if (field.type === 'drop_down') {
    const o = options.find((x) => x.orderindex === Number(value) || x.id === value);
    return o ? optionName(o) : null;
  }
  if (field.type === 'labels' || field.type === 'label') {
    const ids = Array.isArray(value) ? value : [value];
    return ids.map((id) => optionName(options.find((o) => o.id === id) ?? {})).filter(Boolean);
  }
  if (field.type === 'number' || field.type === 'currency') return Number(value);
  return value;
}
