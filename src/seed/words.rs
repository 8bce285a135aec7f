//! The words of seeded headlines, bios and notable works: crafts, genres, skills, schools and
//! title words, each drawn by rank (Zipf-like) from lists long enough that no topic word is in
//! half the profiles, as on a real platform.

use super::zipf::Zipf;
use rand::rngs::StdRng;
use rand::Rng;
use std::sync::OnceLock;

const CRAFTS: &[&str] = &[
    "actor",
    "voice artist",
    "dancer",
    "model",
    "singer",
    "comedian",
    "stunt performer",
    "presenter",
    "musical theatre performer",
    "puppeteer",
    "circus artist",
    "narrator",
    "character actor",
    "motion capture performer",
    "improviser",
    "opera singer",
    "mime",
    "drag artist",
    "magician",
    "beatboxer",
    "rapper",
    "choreographer",
    "hand model",
    "fitness model",
    "audiobook narrator",
    "clown",
    "aerialist",
    "drummer",
    "violinist",
    "physical theatre artist",
];

const GENRES: &[&str] = &[
    "period drama",
    "thriller",
    "romantic comedy",
    "science fiction",
    "musicals",
    "family drama",
    "horror",
    "war films",
    "sitcoms",
    "fantasy",
    "legal series",
    "westerns",
    "crime",
    "noir",
    "satire",
    "sketch comedy",
    "documentary",
    "children's television",
    "soap opera",
    "action",
    "martial arts films",
    "animation",
    "video games",
    "radio plays",
    "Shakespeare",
    "Chekhov",
    "physical comedy",
    "mystery",
    "political satire",
    "medical drama",
    "teen series",
    "mockumentary",
    "heist films",
    "road movies",
    "coming-of-age stories",
    "biopics",
    "historical epics",
    "space opera",
    "cyberpunk",
    "dystopian fiction",
    "gothic horror",
    "folk horror",
    "ghost stories",
    "slapstick",
    "farce",
    "melodrama",
    "tragedy",
    "opera",
    "ballet",
    "contemporary dance",
    "hip hop theatre",
    "cabaret",
    "pantomime",
    "immersive theatre",
    "site-specific theatre",
    "verbatim theatre",
    "new writing",
    "kitchen-sink realism",
    "magical realism",
    "spy fiction",
    "disaster films",
    "sports films",
    "courtroom stories",
    "anthology series",
    "limited series",
    "web series",
    "commercials",
    "music videos",
    "fashion campaigns",
    "e-learning",
    "trailers",
    "audio fiction",
    "anime dubbing",
    "telenovelas",
    "Bollywood musicals",
    "Nordic noir",
    "K-drama",
    "giallo",
    "wuxia",
    "jidaigeki",
];

const SKILLS: &[&str] = &[
    "stage combat",
    "horse riding",
    "ballet",
    "tap",
    "jazz dance",
    "salsa",
    "tango",
    "flamenco",
    "hip hop",
    "krump",
    "breakdance",
    "contemporary dance",
    "fencing",
    "archery",
    "boxing",
    "kickboxing",
    "judo",
    "karate",
    "kung fu",
    "capoeira",
    "parkour",
    "free running",
    "skateboarding",
    "surfing",
    "skiing",
    "snowboarding",
    "ice skating",
    "roller skating",
    "swimming",
    "scuba diving",
    "sailing",
    "rock climbing",
    "gymnastics",
    "trapeze",
    "juggling",
    "unicycle",
    "stilt walking",
    "fire breathing",
    "sleight of hand",
    "ventriloquism",
    "puppetry",
    "mask work",
    "clowning",
    "improvisation",
    "stand-up",
    "sketch writing",
    "sight reading",
    "piano",
    "guitar",
    "violin",
    "cello",
    "drums",
    "trumpet",
    "saxophone",
    "harp",
    "accordion",
    "bagpipes",
    "banjo",
    "ukulele",
    "beatboxing",
    "opera",
    "soprano",
    "mezzo-soprano",
    "tenor",
    "baritone",
    "bass",
    "belting",
    "harmony singing",
    "yodelling",
    "throat singing",
    "rapping",
    "British Sign Language",
    "American Sign Language",
    "accents and dialects",
    "voice matching",
    "character voices",
    "audiobook narration",
    "dubbing",
    "ADR",
    "motion capture",
    "green screen",
    "teleprompter",
    "autocue",
    "presenting",
    "live broadcasting",
    "hand modelling",
    "fitness modelling",
    "catwalk",
    "runway",
    "photographic modelling",
    "driving",
    "motorcycle riding",
    "HGV licence",
    "forklift",
    "firearms handling",
    "sword work",
    "knife work",
    "chess",
    "poker",
    "card tricks",
    "cooking",
    "baking",
    "bartending",
    "barista skills",
    "calligraphy",
    "painting",
    "sculpture",
    "pottery",
    "knitting",
    "sewing",
    "carpentry",
    "welding",
    "first aid",
    "nursing",
    "veterinary work",
    "dog handling",
    "falconry",
    "beekeeping",
    "farming",
    "tractor driving",
    "coding",
    "typing",
    "shorthand",
    "Morse code",
];

const SCHOOLS: &[&str] = &[
    "RADA",
    "LAMDA",
    "the Guildhall School",
    "Bristol Old Vic Theatre School",
    "the Royal Central School",
    "the Juilliard School",
    "the Yale School of Drama",
    "the Stella Adler Studio",
    "the Lee Strasberg Institute",
    "the Conservatoire de Paris",
    "the Cours Florent",
    "the Ernst Busch Academy",
    "the Max Reinhardt Seminar",
    "the Silvio d'Amico Academy",
    "the RESAD in Madrid",
    "the National School of Drama in Delhi",
    "the Film and Television Institute of India",
    "NIDA in Sydney",
    "the National Theatre School of Canada",
    "the Moscow Art Theatre School",
    "GITIS",
    "the Toho Gakuen College",
    "the Korea National University of Arts",
    "the Central Academy of Drama in Beijing",
    "the Lir Academy",
    "the Royal Conservatoire of Scotland",
    "the Arts Educational Schools",
    "Mountview",
    "the Oxford School of Drama",
    "ALRA",
    "the Liverpool Institute for Performing Arts",
    "the Amsterdam Theatre School",
    "the Danish National School of Performing Arts",
    "the Stockholm Academy of Dramatic Arts",
    "the Gaiety School of Acting",
    "the American Academy of Dramatic Arts",
    "the Actors Studio",
    "a community theatre",
    "a youth theatre",
    "summer school workshops",
];

const TITLE_WORDS: &[&str] = &[
    "Silent",
    "River",
    "Crown",
    "Harbour",
    "Midnight",
    "Glass",
    "Northern",
    "Echoes",
    "Iron",
    "Summer",
    "Orchard",
    "Signal",
    "Paper",
    "Golden",
    "Last",
    "Winter",
    "Wild",
    "Hidden",
    "Broken",
    "Scarlet",
    "Velvet",
    "Hollow",
    "Burning",
    "Frozen",
    "Quiet",
    "Distant",
    "Falling",
    "Rising",
    "Lost",
    "Secret",
    "Salt",
    "Ash",
    "Ember",
    "Stone",
    "Thunder",
    "Copper",
    "Silver",
    "Lantern",
    "Compass",
    "Harvest",
    "Tide",
    "Meridian",
    "Horizon",
    "Garden",
    "Station",
    "Bridge",
    "Tower",
    "Island",
    "Valley",
    "Canyon",
    "Desert",
    "Forest",
    "Meadow",
    "Marsh",
    "Cathedral",
    "Carnival",
    "Circus",
    "Empire",
    "Kingdom",
    "Republic",
    "Dynasty",
    "Legacy",
    "Promise",
    "Verdict",
    "Witness",
    "Stranger",
    "Daughter",
    "Brother",
    "Widow",
    "Orphan",
    "Pilgrim",
    "Sailor",
    "Soldier",
    "Painter",
    "Dancer",
    "Gambler",
    "Thief",
    "Hunter",
    "Queen",
    "Prince",
    "Saint",
    "Ghost",
    "Shadow",
    "Mirror",
    "Clock",
    "Letter",
    "Map",
    "Key",
    "Door",
    "Window",
    "Road",
    "Train",
    "Ship",
    "Engine",
    "Machine",
    "Circuit",
    "Orbit",
    "Nebula",
    "Comet",
    "Eclipse",
    "Aurora",
    "Monsoon",
    "Blizzard",
    "Drought",
    "Flood",
    "Wildfire",
    "Avalanche",
    "Earthquake",
    "Lighthouse",
    "Vineyard",
    "Factory",
    "Foundry",
    "Quarry",
    "Mill",
    "Farmhouse",
    "Boarding",
    "School",
    "Hospital",
    "Precinct",
    "Courtroom",
    "Parliament",
    "Embassy",
    "Casino",
    "Cabaret",
    "Ballroom",
    "Opera",
    "Symphony",
    "Requiem",
    "Lullaby",
    "Ballad",
    "Anthem",
    "Overture",
    "Sonata",
    "Chorus",
    "Encore",
    "Curtain",
    "Velour",
    "Mosaic",
    "Tapestry",
    "Origami",
    "Porcelain",
    "Ivory",
    "Amber",
    "Jade",
    "Onyx",
    "Cobalt",
    "Indigo",
    "Crimson",
    "Saffron",
    "Olive",
    "Juniper",
    "Cypress",
    "Willow",
    "Birch",
    "Oak",
    "Hawthorn",
    "Thistle",
    "Heather",
    "Bramble",
    "Foxglove",
    "Nightingale",
    "Raven",
    "Falcon",
    "Heron",
    "Swallow",
    "Wolf",
    "Fox",
    "Hare",
    "Stag",
    "Bear",
    "Lynx",
    "Otter",
    "Whale",
    "Coral",
    "Pearl",
    "Anchor",
    "Sextant",
    "Telescope",
    "Atlas",
    "Almanac",
    "Chronicle",
    "Gazette",
    "Dispatch",
    "Bulletin",
    "Manifesto",
    "Testament",
    "Confession",
    "Alibi",
    "Ransom",
    "Heist",
    "Gambit",
    "Checkmate",
    "Stalemate",
    "Paradox",
    "Cipher",
    "Enigma",
];

const ROLES: &[&str] = &[
    "detective",
    "nurse",
    "lead",
    "villain",
    "best friend",
    "mother",
    "father",
    "soldier",
    "lawyer",
    "chef",
    "teacher",
    "narrator",
    "queen",
    "king",
    "spy",
    "doctor",
    "dancer",
    "journalist",
    "pilot",
    "priest",
    "nun",
    "thief",
    "con artist",
    "hitman",
    "bodyguard",
    "butler",
    "maid",
    "governess",
    "poet",
    "painter",
    "sculptor",
    "scientist",
    "astronaut",
    "engineer",
    "mechanic",
    "farmer",
    "fisherman",
    "miner",
    "sailor",
    "pirate",
    "smuggler",
    "gangster",
    "mayor",
    "senator",
    "president",
    "ambassador",
    "refugee",
    "immigrant",
    "orphan",
    "twin",
    "ghost",
    "vampire",
    "werewolf",
    "witch",
    "wizard",
    "fairy",
    "robot",
    "alien",
    "android",
    "oracle",
    "prophet",
    "knight",
    "squire",
    "jester",
    "bard",
    "monk",
    "samurai",
    "ninja",
    "cowboy",
    "sheriff",
    "outlaw",
    "bartender",
    "waitress",
    "taxi driver",
    "bus driver",
    "shopkeeper",
    "landlady",
    "neighbour",
    "stranger",
];

/// The lists' draws, built once.
struct Draws {
    crafts: Zipf,
    genres: Zipf,
    skills: Zipf,
    schools: Zipf,
    titles: Zipf,
    roles: Zipf,
}

fn draws() -> &'static Draws {
    static DRAWS: OnceLock<Draws> = OnceLock::new();
    DRAWS.get_or_init(|| Draws {
        crafts: Zipf::new(CRAFTS.len(), 1.0),
        genres: Zipf::new(GENRES.len(), 0.7),
        skills: Zipf::new(SKILLS.len(), 0.7),
        schools: Zipf::new(SCHOOLS.len(), 0.8),
        titles: Zipf::new(TITLE_WORDS.len(), 0.6),
        roles: Zipf::new(ROLES.len(), 0.8),
    })
}

fn draw<'a>(list: &'a [&'a str], zipf: &Zipf, rng: &mut StdRng) -> &'a str {
    list[zipf.sample(rng)]
}

/// Two different genres.
fn two_genres(rng: &mut StdRng) -> (&'static str, &'static str) {
    let d = draws();
    let a = draw(GENRES, &d.genres, rng);
    let mut b = draw(GENRES, &d.genres, rng);
    while b == a {
        b = draw(GENRES, &d.genres, rng);
    }
    (a, b)
}

/// A profile's headline.
pub fn headline(rng: &mut StdRng, city: &str) -> String {
    let d = draws();
    let craft = draw(CRAFTS, &d.crafts, rng);
    let (a, b) = two_genres(rng);
    match rng.gen_range(0..4) {
        0 => format!("{} in {city}: {a} and {b}", capitalised(craft)),
        1 => format!("{} for {a}", capitalised(craft)),
        2 => format!(
            "{}, {} and {}",
            capitalised(craft),
            draw(SKILLS, &d.skills, rng),
            draw(SKILLS, &d.skills, rng)
        ),
        _ => format!("{a}, {b}, {}", draw(CRAFTS, &d.crafts, rng)),
    }
}

/// A profile's bio.
pub fn bio(rng: &mut StdRng, name: &str, city: &str) -> String {
    let d = draws();
    let school = draw(SCHOOLS, &d.schools, rng);
    let (a, b) = two_genres(rng);
    let skill = draw(SKILLS, &d.skills, rng);
    match rng.gen_range(0..3) {
        0 => format!("{name} trained at {school} and has worked across {a} and {b}."),
        1 => format!(
            "Based in {city}, {name} came to acting through {skill} and now works mostly in {a}."
        ),
        _ => format!("Trained at {school}. Credits in {a} and {b}; skilled in {skill}."),
    }
}

/// A few skills, different from each other.
pub fn skills(rng: &mut StdRng, n: usize) -> Vec<String> {
    let d = draws();
    let mut out: Vec<String> = Vec::with_capacity(n);
    for _ in 0..n * 2 {
        let skill = draw(SKILLS, &d.skills, rng).to_string();
        if !out.contains(&skill) {
            out.push(skill);
        }
        if out.len() == n {
            break;
        }
    }
    out
}

/// A production's title.
pub fn title(rng: &mut StdRng) -> String {
    let d = draws();
    let first = draw(TITLE_WORDS, &d.titles, rng);
    match rng.gen_range(0..3) {
        0 => format!("The {first} {}", draw(TITLE_WORDS, &d.titles, rng)),
        1 => format!("{first} and {}", draw(TITLE_WORDS, &d.titles, rng)),
        _ => format!("{first} {}", draw(TITLE_WORDS, &d.titles, rng)),
    }
}

/// A role in a genre.
pub fn role(rng: &mut StdRng) -> (String, String) {
    let d = draws();
    let role = draw(ROLES, &d.roles, rng);
    (role.to_string(), draw(GENRES, &d.genres, rng).to_string())
}

/// The word with its first letter upper-cased.
pub fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use std::collections::HashMap;

    #[test]
    fn no_topic_word_is_in_half_the_profiles() {
        let mut rng = StdRng::seed_from_u64(5);
        let n = 20_000;
        let mut holding: HashMap<String, usize> = HashMap::new();
        for _ in 0..n {
            let text = format!(
                "{} {}",
                headline(&mut rng, "Paris"),
                bio(&mut rng, "Someone", "Paris")
            )
            .to_lowercase();
            let words: std::collections::BTreeSet<&str> = text
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| w.len() > 3)
                .collect();
            for w in words {
                *holding.entry(w.to_string()).or_default() += 1;
            }
        }
        let stop = [
            "paris", "someone", "trained", "worked", "across", "based", "came", "through", "works",
            "mostly", "credits", "skilled", "acting",
        ];
        let (word, most) = holding
            .iter()
            .filter(|(w, _)| !stop.contains(&w.as_str()))
            .max_by_key(|(_, c)| **c)
            .map(|(w, c)| (w.clone(), *c))
            .unwrap_or_default();
        assert!(most < n / 2, "{word} is in {most} of {n}");
        assert!(holding.len() > 300, "{} distinct words", holding.len());
    }
}
