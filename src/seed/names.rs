//! Names for seeded people, drawn as real name frequencies fall: from several cultures and
//! scripts (Latin, Cyrillic, Han, kana and kanji, Hangul, Arabic, Devanagari), and within one
//! culture by a Zipf-like law over its names' ranks. Each culture's list starts with its real
//! most common names and goes on with names built from its own parts, a few hundred to a
//! thousand per culture, so a search meets both the common-name worst case (the most frequent
//! surname is in about 1 % of profiles) and a long tail of rare names.
//!
//! The lists are fixed (built by a generator with its own constant seed); only the draws depend
//! on the seed of a run, so one seed makes the same people every time.

use super::zipf::Zipf;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeSet;
use std::sync::OnceLock;

/// How a culture writes a full name.
#[derive(Clone, Copy)]
enum Order {
    /// "Given Family".
    GivenFirst,
    /// "FamilyGiven", no space (Chinese, Korean).
    FamilyFirstJoined,
    /// "Family Given" (Japanese written with a space).
    FamilyFirst,
}

/// One culture: its share of people, its real common names (most common first) and the parts
/// its other names are built from.
struct Culture {
    share: f64,
    order: Order,
    given: &'static [&'static str],
    family: &'static [&'static str],
    given_parts: (&'static [&'static str], &'static [&'static str]),
    family_parts: (&'static [&'static str], &'static [&'static str]),
}

/// Zipf exponents: family names are more concentrated than given names in most cultures.
const GIVEN_EXPONENT: f64 = 0.75;
const FAMILY_EXPONENT: f64 = 0.8;

const CULTURES: &[Culture] = &[
    Culture {
        share: 0.16,
        order: Order::GivenFirst,
        given: &[
            "James",
            "Olivia",
            "Michael",
            "Emma",
            "David",
            "Sophie",
            "John",
            "Charlotte",
            "Daniel",
            "Amelia",
            "Thomas",
            "Grace",
            "Samuel",
            "Chloe",
            "Jack",
            "Lucy",
            "Henry",
            "Hannah",
            "Oliver",
            "Ella",
        ],
        family: &[
            "Smith", "Johnson", "Williams", "Brown", "Jones", "Taylor", "Davies", "Wilson",
            "Evans", "Thomas", "Roberts", "Walker", "Wright", "Thompson", "White", "Hughes",
            "Edwards", "Green", "Hall", "Wood", "Harris", "Clarke", "Carter", "Walsh",
        ],
        given_parts: (
            &[
                "Al", "Ar", "Ber", "Bri", "Cal", "Car", "Dar", "Del", "El", "Em", "Fin", "Gar",
                "Har", "Is", "Jas", "Kel", "Lan", "Mar", "Mel", "Nor", "Per", "Ros", "Syl", "Tam",
                "Wil",
            ],
            &[
                "an", "ette", "ie", "ley", "lyn", "ton", "ra", "ina", "ric", "den", "ia", "ey",
                "win", "bert", "ley", "ow",
            ],
        ),
        family_parts: (
            &[
                "Ash", "Black", "Brad", "Brook", "Craw", "Dal", "Ever", "Fair", "Gold", "Hart",
                "Hol", "Kings", "Lang", "Mar", "North", "Ox", "Pem", "Rad", "Stan", "Thorn", "Wel",
                "Whit", "Win", "Ather", "Bel", "Cot", "Dun", "Fen", "Hay", "Lock",
            ],
            &[
                "ford", "ley", "ton", "wood", "field", "well", "by", "ham", "wick", "more", "dale",
                "stone", "ridge", "worth", "croft", "hurst", "bury", "cott",
            ],
        ),
    },
    Culture {
        share: 0.13,
        order: Order::GivenFirst,
        given: &[
            "María",
            "José",
            "Lucía",
            "Antonio",
            "Carmen",
            "Manuel",
            "Sofía",
            "Javier",
            "Valentina",
            "Diego",
            "Isabel",
            "Alejandro",
            "Paula",
            "Carlos",
            "Elena",
            "Mateo",
        ],
        family: &[
            "García",
            "Rodríguez",
            "González",
            "Fernández",
            "López",
            "Martínez",
            "Sánchez",
            "Pérez",
            "Gómez",
            "Martín",
            "Jiménez",
            "Ruiz",
            "Hernández",
            "Díaz",
            "Moreno",
            "Álvarez",
        ],
        given_parts: (
            &[
                "Adr", "Al", "Am", "Br", "Cat", "Cris", "Ed", "Est", "Fel", "Gab", "Gu", "Ign",
                "Jul", "Leon", "Lor", "Mar", "Nic", "Ram", "Rod", "Ser", "Teo", "Vic", "Xim",
            ],
            &[
                "iana", "ián", "ela", "ino", "ina", "aro", "ana", "olás", "ita", "ardo", "ía",
                "encio", "ela", "erto",
            ],
        ),
        family_parts: (
            &[
                "Alva", "Bel", "Cas", "Del", "Esc", "Fer", "Gal", "Her", "Iba", "Lor", "Mar",
                "Nav", "Ort", "Pal", "Quin", "Ros", "San", "Tor", "Val", "Zam", "Cab", "Mend",
                "Sot", "Ver",
            ],
            &[
                "ez", "ado", "ero", "illa", "ano", "uela", "ales", "ino", "eda", "ón", "arro",
                "oza", "iel",
            ],
        ),
    },
    Culture {
        share: 0.08,
        order: Order::GivenFirst,
        given: &[
            "Camille", "Louis", "Léa", "Gabriel", "Manon", "Hugo", "Chloé", "Jules", "Inès",
            "Arthur", "Juliette", "Raphaël", "Margaux", "Théo",
        ],
        family: &[
            "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand",
            "Leroy", "Moreau", "Simon", "Laurent", "Lefebvre", "Michel", "Fournier",
        ],
        given_parts: (
            &[
                "Am", "Bast", "Cél", "Dam", "Él", "Flor", "Gisl", "Hél", "Jos", "Lor", "Mael",
                "Nath", "Oc", "Pasc", "Rom", "Sév", "Val", "Yv",
            ],
            &[
                "ine", "ien", "ette", "ane", "elle", "ard", "aine", "ois", "èle", "ence", "an",
            ],
        ),
        family_parts: (
            &[
                "Beau", "Bel", "Bon", "Char", "Chev", "Dur", "Font", "Gar", "Lam", "Lef", "Mar",
                "Mont", "Pel", "Ren", "Roch", "Tour", "Vall", "Vil", "Bouch", "Cour", "Gir",
            ],
            &[
                "ier", "and", "eau", "et", "on", "ard", "ois", "elle", "ault", "ière", "in",
            ],
        ),
    },
    Culture {
        share: 0.08,
        order: Order::GivenFirst,
        given: &[
            "Anna",
            "Lukas",
            "Lena",
            "Jonas",
            "Mia",
            "Felix",
            "Laura",
            "Maximilian",
            "Lea",
            "Paul",
            "Katharina",
            "Leon",
            "Johanna",
            "Moritz",
        ],
        family: &[
            "Müller",
            "Schmidt",
            "Schneider",
            "Fischer",
            "Weber",
            "Meyer",
            "Wagner",
            "Becker",
            "Schulz",
            "Hoffmann",
            "Schäfer",
            "Koch",
            "Bauer",
            "Richter",
            "Klein",
        ],
        given_parts: (
            &[
                "Ad", "Bert", "Diet", "Eck", "Fried", "Ger", "Hein", "Ing", "Kon", "Lud", "Mech",
                "Ot", "Rein", "Sieg", "Ul", "Wal", "Wolf",
            ],
            &[
                "rich", "linde", "hard", "run", "mar", "trud", "hild", "bert", "wig", "gard", "olf",
            ],
        ),
        family_parts: (
            &[
                "Alt", "Bach", "Berg", "Brand", "Eich", "Feld", "Frank", "Gold", "Hart", "Hof",
                "Kirch", "Lang", "Lind", "Neu", "Ober", "Rein", "Roth", "Schwarz", "Stein", "Wald",
                "Weiss", "Wolf",
            ],
            &[
                "mann", "er", "hoff", "berg", "feld", "bach", "hardt", "inger", "meier", "stein",
                "hauser", "ner",
            ],
        ),
    },
    Culture {
        share: 0.07,
        order: Order::GivenFirst,
        given: &[
            "Giulia",
            "Francesco",
            "Chiara",
            "Alessandro",
            "Martina",
            "Lorenzo",
            "Sara",
            "Matteo",
            "Giorgia",
            "Leonardo",
            "Aurora",
            "Riccardo",
        ],
        family: &[
            "Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci",
            "Marino", "Greco", "Bruno", "Gallo", "Conti",
        ],
        given_parts: (
            &[
                "Ag", "Bened", "Cosim", "Dar", "Emanu", "Fabr", "Gian", "Ilar", "Lavin", "Maurizi",
                "Ottav", "Pierl", "Rosar", "Salv", "Tizian", "Vittor",
            ],
            &[
                "io", "ia", "etta", "ino", "ina", "ello", "ella", "ano", "ana",
            ],
        ),
        family_parts: (
            &[
                "Bel", "Bian", "Cal", "Cap", "Fer", "Gal", "Lom", "Mar", "Mon", "Pel", "Ric",
                "Ros", "Sal", "Ser", "Tor", "Val", "Vit", "Zan", "Cer", "Orl",
            ],
            &[
                "ini", "elli", "etti", "ucci", "one", "oni", "ari", "ardi", "ese", "ino", "otti",
            ],
        ),
    },
    Culture {
        share: 0.07,
        order: Order::GivenFirst,
        given: &[
            "Chinedu",
            "Adaeze",
            "Oluwaseun",
            "Ngozi",
            "Emeka",
            "Folake",
            "Tunde",
            "Amara",
            "Babajide",
            "Chiamaka",
            "Kelechi",
            "Yetunde",
        ],
        family: &[
            "Okafor", "Adeyemi", "Okonkwo", "Balogun", "Eze", "Olawale", "Nwosu", "Adebayo", "Obi",
            "Ogunleye", "Chukwu", "Afolabi",
        ],
        given_parts: (
            &[
                "Ade", "Chi", "Ife", "Olu", "Nne", "Obi", "Temi", "Uche", "Zai", "Ama", "Ebe",
                "Kay", "Ngo",
            ],
            &[
                "yemi", "oma", "ka", "dunni", "nna", "bunmi", "ke", "dinma", "chi", "wale",
            ],
        ),
        family_parts: (
            &[
                "Ade", "Ako", "Chukwu", "Eke", "Ibe", "Nwa", "Obi", "Ogun", "Olu", "Onu", "Uzo",
                "Ba", "Ala",
            ],
            &[
                "lana", "nna", "emeka", "kwe", "dipe", "sanya", "gbade", "gwu", "funmi", "ola",
            ],
        ),
    },
    Culture {
        share: 0.06,
        order: Order::GivenFirst,
        given: &[
            "Aarav", "Priya", "Rohan", "Ananya", "Vikram", "Kavya", "Arjun", "Isha", "Rahul",
            "Neha", "Aditya", "Pooja",
        ],
        family: &[
            "Sharma", "Patel", "Singh", "Kumar", "Gupta", "Reddy", "Iyer", "Nair", "Mehta",
            "Joshi", "Rao", "Das", "Chopra",
        ],
        given_parts: (
            &[
                "Abhi", "Anu", "Dev", "Hari", "Indu", "Jaya", "Kiran", "Mohi", "Nand", "Pra",
                "Rag", "Shri", "Suni", "Vish",
            ],
            &[
                "nav", "radha", "ita", "esh", "ini", "ansh", "ika", "endra", "ali", "eet",
            ],
        ),
        family_parts: (
            &[
                "Agar", "Bhat", "Chatur", "Desh", "Gan", "Kul", "Mal", "Nag", "Pand", "Raj", "Sax",
                "Shriv", "Trip", "Vas",
            ],
            &[
                "wal", "pande", "kar", "vedi", "athi", "hotra", "ena", "astava", "deva",
            ],
        ),
    },
    Culture {
        share: 0.04,
        order: Order::GivenFirst,
        given: &[
            "Haruto", "Yui", "Sota", "Hina", "Ren", "Aoi", "Yuto", "Sakura", "Kaito", "Mei",
        ],
        family: &[
            "Sato",
            "Suzuki",
            "Takahashi",
            "Tanaka",
            "Watanabe",
            "Ito",
            "Yamamoto",
            "Nakamura",
            "Kobayashi",
            "Kato",
        ],
        given_parts: (
            &[
                "A", "Ha", "Ka", "Ma", "Na", "Ri", "Sa", "Ta", "Yu", "Ke", "Mi", "To",
            ],
            &[
                "ki", "ko", "to", "ya", "mi", "na", "ri", "shi", "ka", "suke", "ro",
            ],
        ),
        family_parts: (
            &[
                "Yama", "Naka", "Hashi", "Kawa", "Mori", "Ishi", "Taka", "Ta", "Ogi", "Fuji",
                "Matsu", "Shima",
            ],
            &[
                "da", "moto", "mura", "kawa", "saki", "no", "hara", "uchi", "oka", "ta",
            ],
        ),
    },
    Culture {
        share: 0.07,
        order: Order::GivenFirst,
        given: &[
            "Анна",
            "Александр",
            "Мария",
            "Дмитрий",
            "Екатерина",
            "Сергей",
            "Ольга",
            "Иван",
            "Татьяна",
            "Михаил",
            "Наталья",
            "Андрей",
        ],
        family: &[
            "Иванов",
            "Смирнов",
            "Кузнецов",
            "Попов",
            "Васильев",
            "Петров",
            "Соколов",
            "Михайлов",
            "Новиков",
            "Фёдоров",
            "Морозов",
            "Волков",
        ],
        given_parts: (
            &[
                "Ар", "Бо", "Вла", "Гле", "Ев", "Зла", "Ки", "Люд", "Мир", "Ни", "Рос", "Свет",
                "Ста", "Яро",
            ],
            &[
                "слав", "мила", "дан", "на", "рий", "лена", "ва", "ра", "ник", "лия",
            ],
        ),
        family_parts: (
            &[
                "Бел",
                "Бог",
                "Вор",
                "Гол",
                "Гус",
                "Жур",
                "Зай",
                "Коз",
                "Лебед",
                "Мед",
                "Орл",
                "Сор",
                "Тих",
                "Чер",
                "Ком",
                "Сав",
            ],
            &["ов", "ев", "ин", "енко", "ский", "цев", "анов", "ушкин"],
        ),
    },
    Culture {
        share: 0.05,
        order: Order::FamilyFirstJoined,
        given: &[
            "伟", "芳", "娜", "敏", "静", "秀英", "丽", "强", "磊", "洋", "艳", "勇",
        ],
        family: &[
            "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙",
        ],
        given_parts: (
            &[
                "子", "晓", "文", "思", "雨", "嘉", "俊", "欣", "浩", "梓", "宇", "佳", "明",
            ],
            &[
                "涵", "轩", "怡", "然", "豪", "琪", "杰", "萱", "辰", "霖", "婷", "航", "彤",
            ],
        ),
        family_parts: (&["欧阳", "司马", "上官", "诸葛", "东方", "慕容"], &["", ""]),
    },
    Culture {
        share: 0.04,
        order: Order::FamilyFirst,
        given: &[
            "陽翔",
            "結衣",
            "蒼",
            "陽菜",
            "蓮",
            "葵",
            "悠真",
            "さくら",
            "大翔",
            "芽衣",
        ],
        family: &[
            "佐藤", "鈴木", "高橋", "田中", "渡辺", "伊藤", "山本", "中村", "小林", "加藤",
        ],
        given_parts: (
            &[
                "美", "陽", "真", "優", "結", "健", "翔", "彩", "春", "直", "菜", "和",
            ],
            &[
                "子", "太", "斗", "花", "希", "人", "音", "也", "香", "輝", "奈",
            ],
        ),
        family_parts: (
            &[
                "山", "中", "小", "大", "石", "松", "森", "竹", "藤", "吉", "池", "高",
            ],
            &[
                "田", "川", "本", "村", "口", "野", "原", "井", "島", "崎", "木",
            ],
        ),
    },
    Culture {
        share: 0.03,
        order: Order::FamilyFirstJoined,
        given: &[
            "민준", "서연", "도윤", "지우", "하준", "서윤", "시우", "하은",
        ],
        family: &["김", "이", "박", "최", "정", "강", "조", "윤", "장", "임"],
        given_parts: (
            &["지", "수", "예", "현", "유", "은", "태", "재", "다", "소"],
            &["민", "아", "진", "호", "원", "빈", "린", "혁", "희", "율"],
        ),
        family_parts: (&["남궁", "황보", "제갈", "선우"], &["", ""]),
    },
    Culture {
        share: 0.05,
        order: Order::GivenFirst,
        given: &[
            "محمد",
            "فاطمة",
            "أحمد",
            "مريم",
            "علي",
            "نور",
            "يوسف",
            "ليلى",
            "عمر",
            "سارة",
        ],
        family: &[
            "حداد",
            "منصور",
            "خليل",
            "ناصر",
            "سعيد",
            "حسن",
            "إبراهيم",
            "الأحمد",
            "عيسى",
            "يوسف",
        ],
        given_parts: (
            &["جم", "رش", "سل", "كر", "نب", "هش", "وس", "عب", "زي", "رن"],
            &["يل", "يد", "ى", "ام", "ان", "ين", "ار", "ير"],
        ),
        family_parts: (
            &["ال", "بن ", "أبو ", "آل "],
            &[
                "قاسم",
                "شامي",
                "عطار",
                "سالم",
                "هاشم",
                "رفاعي",
                "طحان",
                "بيطار",
                "نجار",
                "زين",
            ],
        ),
    },
    Culture {
        share: 0.07,
        order: Order::GivenFirst,
        given: &[
            "आरव",
            "प्रिया",
            "विवान",
            "अनन्या",
            "अर्जुन",
            "दिव्या",
            "राहुल",
            "नेहा",
            "अदिति",
            "कबीर",
        ],
        family: &[
            "शर्मा",
            "वर्मा",
            "गुप्ता",
            "सिंह",
            "कुमार",
            "पटेल",
            "यादव",
            "जोशी",
            "मिश्रा",
            "चौधरी",
        ],
        given_parts: (
            &[
                "अनु",
                "दे",
                "ह",
                "ज",
                "कि",
                "मो",
                "न",
                "प्र",
                "र",
                "श्री",
                "सु",
                "वि",
            ],
            &["राग", "वी", "रि", "या", "रण", "हन", "मन", "काश", "मेश", "ता"],
        ),
        family_parts: (
            &["अग्र", "भट", "चतुर", "देश", "पांडे", "त्रि", "द्वि", "श्री"],
            &["वाल", "नागर", "वेदी", "पाठी", "मुख", "वास्तव", "कर"],
        ),
    },
];

/// A culture's names, ranked, with their Zipf draws.
struct Ranked {
    given: Vec<String>,
    family: Vec<String>,
    given_draw: Zipf,
    family_draw: Zipf,
}

/// Every culture's names, and the draw of a culture by its share.
pub struct Names {
    cultures: Vec<Ranked>,
    shares: Vec<f64>,
}

/// The real names first, then the built ones, without repeats.
fn ranked(real: &[&str], parts: (&[&str], &[&str]), rng: &mut StdRng) -> Vec<String> {
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut out: Vec<String> = Vec::new();
    for name in real {
        if seen.insert(name.to_string()) {
            out.push(name.to_string());
        }
    }
    let (heads, tails) = parts;
    let mut built: Vec<String> = heads
        .iter()
        .flat_map(|h| tails.iter().map(move |t| format!("{}{t}", h.trim())))
        .filter(|n| !n.trim().is_empty())
        .collect();
    // Built names in a fixed shuffled order: their ranks (and so their frequencies) do not follow
    // the alphabet.
    for i in (1..built.len()).rev() {
        built.swap(i, rng.gen_range(0..=i));
    }
    for name in built {
        if seen.insert(name.clone()) {
            out.push(name);
        }
    }
    out
}

impl Names {
    fn build() -> Names {
        let mut rng = StdRng::seed_from_u64(0x6e61_6d65);
        let cultures = CULTURES
            .iter()
            .map(|c| {
                let given = ranked(c.given, c.given_parts, &mut rng);
                let family = ranked(c.family, c.family_parts, &mut rng);
                Ranked {
                    given_draw: Zipf::new(given.len(), GIVEN_EXPONENT),
                    family_draw: Zipf::new(family.len(), FAMILY_EXPONENT),
                    given,
                    family,
                }
            })
            .collect();
        Names {
            cultures,
            shares: CULTURES.iter().map(|c| c.share).collect(),
        }
    }

    /// The lists, built once.
    pub fn get() -> &'static Names {
        static NAMES: OnceLock<Names> = OnceLock::new();
        NAMES.get_or_init(Names::build)
    }

    /// One person's full name, as their culture writes it.
    pub fn draw(&self, rng: &mut StdRng) -> String {
        let i = Zipf::pick_weighted(&self.shares, rng);
        let (culture, names) = (&CULTURES[i], &self.cultures[i]);
        let given = &names.given[names.given_draw.sample(rng)];
        let family = &names.family[names.family_draw.sample(rng)];
        match culture.order {
            Order::GivenFirst => format!("{given} {family}"),
            Order::FamilyFirst => format!("{family} {given}"),
            Order::FamilyFirstJoined => format!("{family}{given}"),
        }
    }

    /// How many distinct given and family names the lists hold.
    #[cfg(test)]
    fn sizes(&self) -> (usize, usize) {
        self.cultures
            .iter()
            .fold((0, 0), |(g, f), c| (g + c.given.len(), f + c.family.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn names_come_from_thousands_with_a_common_head_and_a_long_tail() {
        let names = Names::get();
        let (given, family) = names.sizes();
        assert!(
            given >= 1_500 && family >= 1_500,
            "{given} given, {family} family"
        );
        let mut rng = StdRng::seed_from_u64(7);
        let drawn: Vec<String> = (0..100_000).map(|_| names.draw(&mut rng)).collect();
        let distinct: BTreeSet<&String> = drawn.iter().collect();
        assert!(
            distinct.len() > 40_000,
            "{} distinct of 100,000",
            distinct.len()
        );
        let mut surnames: HashMap<&str, usize> = HashMap::new();
        for name in &drawn {
            if let Some((_, last)) = name.rsplit_once(' ') {
                *surnames.entry(last).or_default() += 1;
            }
        }
        let top = surnames.values().max().copied().unwrap_or(0);
        assert!(
            (500..=2_500).contains(&top),
            "the most common surname is in {top} of 100,000"
        );
        let scripts: [fn(char) -> bool; 6] = [
            |c: char| c.is_ascii_alphabetic(),
            |c: char| ('\u{0400}'..='\u{04FF}').contains(&c),
            |c: char| ('\u{4E00}'..='\u{9FFF}').contains(&c),
            |c: char| ('\u{AC00}'..='\u{D7AF}').contains(&c),
            |c: char| ('\u{0600}'..='\u{06FF}').contains(&c),
            |c: char| ('\u{0900}'..='\u{097F}').contains(&c),
        ];
        for (i, script) in scripts.iter().enumerate() {
            let share = drawn.iter().filter(|n| n.chars().any(script)).count();
            assert!(share > 1_000, "script {i}: {share} names");
        }
    }

    #[test]
    fn one_seed_makes_the_same_names() {
        let names = Names::get();
        let draw = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            (0..50).map(|_| names.draw(&mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(draw(3), draw(3));
        assert_ne!(draw(3), draw(4));
    }
}
