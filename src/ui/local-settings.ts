// The page's remembered choices (budget, settings, autosave, the dataset picked) in localStorage. Storage
// can be blocked (private windows, policies): then a choice lasts for this visit only.

export function loadSetting(key: string): string | null {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

export function saveSetting(key: string, value: string | null): void {
  try {
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch {
    // blocked: nothing to do
  }
}

export function loadJson(key: string): unknown {
  const v = loadSetting(key);
  try {
    return v === null ? null : JSON.parse(v);
  } catch {
    return null;
  }
}

export const saveJson = (key: string, value: unknown): void => saveSetting(key, JSON.stringify(value));
