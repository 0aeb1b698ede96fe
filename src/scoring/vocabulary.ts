// The weapon vocabulary: ONE predicate for "this names a firearm", used by the re-scorer's
// features, its safety floor and the action policy's arming floor (src/policy/policy.ts).
// A regex of a dozen words missed plurals and model names; this matches tokens, so
// "Pistols", "glock_19", "AR-15 rifle" and "handguns" all read as firearms.
//
// Matching: lower-case, "_" and "/" read as spaces, a hyphen or dot before or after a digit
// dropped ("AR-15" → "ar15", "5.56" → "556"; "assault-rifle" stays two words), then whole tokens, with a plural "s"/"es"
// stripped, and two-word phrases. A token that starts or ends with "gun" is a firearm
// (handgun, shotguns, gunman, airgun): on a safety floor a false "firearm" costs a HIGH,
// a missed one can cost a life.

export type WeaponFamily = 'firearm' | 'blade' | 'blunt' | 'other';

/** Generic names, then the class names of public weapon-detection models and datasets. */
const FIREARM_WORDS = [
  'gun', 'firearm', 'handgun', 'pistol', 'revolver', 'rifle', 'shotgun', 'carbine', 'smg', 'submachine', 'sidearm',
  'musket', 'sniper', 'derringer', 'magnum', 'launcher', 'bazooka', 'rpg', 'muzzle', 'gunshot', 'gunfire', 'firearms',
  // Brands and makers.
  'glock', 'beretta', 'sig', 'sigsauer', 'colt', 'ruger', 'walther', 'taurus', 'remington', 'mossberg', 'winchester',
  'browning', 'kalashnikov', 'heckler', 'benelli', 'mauser', 'luger', 'makarov', 'tokarev', 'springfield', 'barrett',
  'dragunov', 'steyr', 'famas', 'galil', 'deagle', 'hk', 'fnx', 'cz75', 'kimber',
  // Models and cartridges.
  'ak', 'ak47', 'ak74', 'akm', 'ar15', 'ar10', 'm4', 'm4a1', 'm16', 'm1911', '1911', 'uzi', 'mp5', 'mp7', 'mac10', 'mac11',
  'tec9', 'p90', 'g36', 'sks', 'scar', 'aug', 'p226', 'p320', 'm9', 'g17', 'g19', '9mm', '45acp', '556', '762', '12gauge',
] as const;
const FIREARM_PHRASES = [
  'assault rifle', 'assault weapon', 'machine gun', 'long gun', 'desert eagle', 'smith wesson', 's w', 'heckler koch',
  'fn scar', 'hand gun', 'shot gun', 'air gun',
] as const;

const BLADE_WORDS = [
  'knife', 'knive', 'blade', 'machete', 'sword', 'dagger', 'scissor', 'razor', 'axe', 'hatchet', 'cleaver', 'boxcutter',
  'bayonet', 'katana', 'scalpel', 'shank', 'shiv', 'switchblade', 'pocketknife', 'stiletto',
] as const;
const BLADE_PHRASES = ['box cutter', 'utility knife'] as const;
const BLUNT_WORDS = [
  'bat', 'club', 'crowbar', 'hammer', 'pipe', 'stick', 'bottle', 'brick', 'rock', 'stone', 'wrench', 'bludgeon', 'baton',
  'truncheon', 'mallet', 'cudgel', 'plank', 'chain', 'knuckle', 'knuckles', 'brass',
] as const;
const BLUNT_PHRASES = ['baseball bat', 'tire iron', 'tyre iron', 'brass knuckles'] as const;

/** Tokens that end in "gun" but are not guns. */
const NOT_GUN = new Set(['begun', 'shogun', 'burgun']);

export function normalizeWeaponName(type: string): string[] {
  const t = type
    .toLowerCase()
    .replace(/[_/&+]/g, ' ')
    // "AR-15", "ak.47", "5.56", "M-4" → one token; "assault-rifle" → two words.
    .replace(/([a-z0-9])[-.](?=\d)/g, '$1')
    .replace(/(\d)[-.](?=[a-z])/g, '$1');
  return t.split(/[^a-z0-9]+/).filter((w) => w.length > 0);
}

const singular = (w: string): string[] =>
  w.length > 3 && w.endsWith('es') ? [w, w.slice(0, -2), w.slice(0, -1)] : w.length > 2 && w.endsWith('s') ? [w, w.slice(0, -1)] : [w];

/** A compiled vocabulary: the built-in names plus a site's own (scoring.firearm_terms). */
export class WeaponVocabulary {
  private readonly firearmWords: Set<string>;
  private readonly firearmPhrases: Set<string>;
  private readonly bladeWords = new Set<string>(BLADE_WORDS);
  private readonly bladePhrases = new Set<string>(BLADE_PHRASES);
  private readonly bluntWords = new Set<string>(BLUNT_WORDS);
  private readonly bluntPhrases = new Set<string>(BLUNT_PHRASES);

  constructor(extraFirearmTerms: readonly string[] = []) {
    this.firearmWords = new Set<string>(FIREARM_WORDS);
    this.firearmPhrases = new Set<string>(FIREARM_PHRASES);
    for (const term of extraFirearmTerms) {
      const tokens = normalizeWeaponName(term);
      if (tokens.length === 1) this.firearmWords.add(tokens[0]!);
      else if (tokens.length > 1) this.firearmPhrases.add(tokens.join(' '));
    }
  }

  /** The family of one weapon_types entry. Firearm wins over blade, blade over blunt. */
  family(type: string): WeaponFamily {
    const tokens = normalizeWeaponName(type);
    if (this.matches(tokens, this.firearmWords, this.firearmPhrases, true)) return 'firearm';
    if (this.matches(tokens, this.bladeWords, this.bladePhrases, false)) return 'blade';
    if (this.matches(tokens, this.bluntWords, this.bluntPhrases, false)) return 'blunt';
    return 'other';
  }

  private matches(tokens: string[], words: Set<string>, phrases: Set<string>, gun: boolean): boolean {
    for (let i = 0; i < tokens.length; i++) {
      const w = tokens[i]!;
      for (const form of singular(w)) {
        if (words.has(form)) return true;
        if (gun && !NOT_GUN.has(form) && (form.startsWith('gun') || form.endsWith('gun'))) return true;
      }
      if (i + 1 < tokens.length) {
        const next = tokens[i + 1]!;
        for (const form of singular(next)) if (phrases.has(`${w} ${form}`)) return true;
      }
      // A phrase whose first word is a plural ("machines gun" is not a thing, "knuckles" is a word): no further forms.
    }
    return false;
  }
}

/** The built-in vocabulary (no site terms). Immutable, so sharing it is not shared state. */
export const BUILTIN_VOCABULARY = new WeaponVocabulary();

export function weaponFamily(type: string, vocabulary: WeaponVocabulary = BUILTIN_VOCABULARY): WeaponFamily {
  return vocabulary.family(type);
}

export interface WeaponFacts {
  /** A weapon_types entry names a firearm. */
  firearm: boolean;
  blade: boolean;
  /** Blunt or unrecognised. */
  other: boolean;
  weapon: boolean;
  /**
   * The safety floor's "firearm": a named firearm, or weapon_detected with no type that is
   * clearly a blade or a blunt object (no types, or an unrecognised one such as "weapon").
   */
  floorFirearm: boolean;
}

export function weaponFacts(
  report: { weapon_detected?: boolean | undefined; weapon_types?: readonly string[] | undefined },
  vocabulary: WeaponVocabulary = BUILTIN_VOCABULARY,
): WeaponFacts {
  const facts: WeaponFacts = { firearm: false, blade: false, other: false, weapon: report.weapon_detected === true, floorFirearm: false };
  let unclear = false;
  let clear = false;
  for (const type of report.weapon_types ?? []) {
    const family = vocabulary.family(type);
    facts.weapon = true;
    if (family === 'firearm') facts.firearm = true;
    else if (family === 'blade') facts.blade = true;
    else facts.other = true;
    if (family === 'other') unclear = true;
    if (family === 'blade' || family === 'blunt') clear = true;
  }
  facts.floorFirearm = facts.firearm || (report.weapon_detected === true && (unclear || !clear));
  return facts;
}
