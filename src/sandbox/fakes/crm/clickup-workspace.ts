/**
 * The sandbox's ClickUp workspace, laid out as in the user's system (shared/seeds/001): a "Sales"
 * space with one folder per segment (High-End Clubs, Budget Clubs, Both), each with a "New Leads" list
 * carrying the same custom fields (segment dropdown, confidence, email, phone, LinkedIn, the top two
 * opportunities) and `sluice_id`, the key a sync reconciles with.
 */
export interface FakeField {
  id: string;
  name: string;
  type: string;
  options?: { id: string; name: string; color: string; orderindex: number }[];
}

export interface FakeList {
  id: string;
  name: string;
  folderId: string;
  folderName: string;
  fields: FakeField[];
}

/** The sales reps (workspace members) owners are routed to, by email. */
export const SANDBOX_REPS = [
  { id: 81_001, username: 'Avery Rep', email: 'avery@sales.sandbox.test' },
  { id: 81_002, username: 'Blake Rep', email: 'blake@sales.sandbox.test' },
  { id: 81_003, username: 'Casey Rep', email: 'casey@sales.sandbox.test' },
] as const;

const FOLDERS = ['High-End Clubs', 'Budget Clubs', 'Both'] as const;

function fields(listIndex: number): FakeField[] {
  const id = (n: number) => `${listIndex}0f${n}a9c2-5e1d-4b7a-9c3e-2f6d8a1b${String(n).padStart(4, '0')}`;
  return [
    { id: id(1), name: 'sluice_id', type: 'short_text' },
    {
      id: id(2),
      name: 'Segment',
      type: 'drop_down',
      options: ['High-End', 'Budget', 'Both'].map((name, i) => ({
        id: `${listIndex}0a${i}d7e1-0000-4000-8000-00000000000${i}`,
        name,
        color: ['#f9d900', '#81b1ff', '#2ecd6f'][i]!,
        orderindex: i,
      })),
    },
    { id: id(3), name: 'Confidence', type: 'number' },
    { id: id(4), name: 'Email', type: 'email' },
    { id: id(5), name: 'Phone', type: 'phone' },
    { id: id(6), name: 'LinkedIn', type: 'url' },
    { id: id(7), name: 'Top Opp 1', type: 'short_text' },
    { id: id(8), name: 'Top Opp 2', type: 'short_text' },
  ];
}

export function clickUpWorkspace() {
  const team = {
    id: '9001234',
    name: 'Sandbox Golf Sales',
    color: '#7b68ee',
    members: [
      { user: { id: 183, username: 'Sluice', email: 'api@sandbox.test', role: 1 } },
      ...SANDBOX_REPS.map((r) => ({ user: { ...r, role: 3 } })),
    ],
  };
  const space = { id: '90110001', name: 'Sales' };
  const lists: FakeList[] = FOLDERS.map((folderName, i) => ({
    id: `90120${i + 1}01`,
    name: 'New Leads',
    folderId: `90130${i + 1}`,
    folderName,
    fields: fields(i + 1),
  }));
  return { team, space, lists };
}
