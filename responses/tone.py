"""Advisory tone checker for statement drafts.

Practitioners agree on what goes wrong in a crisis statement: defensiveness, blaming
others, justifying before helping, playing the problem down, absolute claims that can be
proven wrong tomorrow, and promises with a time that nobody tracks ("a call in 10 minutes"
that comes two hours later). `check_tone` points at those phrases so the writer can
rewrite them. The checks are advisory: they never block approval, and a clean result does
not mean a statement is good.

Rules: defensive, blaming, justifying, dismissive, absolute, over_promise (curated phrase
lists per language), missing_apology (only when the caller asks for it) and voice_rule
(the playbook's "dont" rules that a machine can check honestly, see `checkable_voice_rules`).

Languages with phrase lists: English, Dutch, Danish, German, French and Spanish. Latvian
and Croatian are left out on purpose: both inflect heavily and a list we cannot have a
native speaker review would miss most real cases while looking trustworthy. For any
language without lists only the voice-rule checks run, so English phrases are never
matched against foreign text, and missing_apology is not reported because we cannot tell.

over_promise: a sentence is flagged when it holds a deadline ("within 10 minutes",
"by 5 pm", "today", "shortly") together with a commitment (a future or promise verb such
as "will", "promise", "guarantee", or an outcome such as "fixed", "back online", "refund",
"call you"). Plain times ("published at 10:00", "the next update is at 14:00") are not
promises. Two exceptions keep the rule useful: outcomes reported as done ("was restored at
10:00") do not count, and a sentence that only schedules the next public update ("we will
post our next update at 14:00") is not flagged, because every practitioner guide tells
teams to announce it; promises to individuals or about the fix itself always count.

A phrase is reported under one rule only, overlapping matches of a rule are merged, and
each rule reports at most MAX_FINDINGS_PER_RULE findings.

Everything here is pure: no database, no Django models. Patterns are precompiled, contain
no nested open-ended repetition, and so run in linear time on hostile input.
"""

from __future__ import annotations

import functools
import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass

SpanFinder = Callable[[str], list[tuple[int, int]]]

RULES: dict[str, str] = {
    "defensive": "Defensive",
    "blaming": "Blaming others",
    "justifying": "Justifying",
    "dismissive": "Dismissive",
    "absolute": "Absolute claim",
    "over_promise": "Promise with a deadline",
    "missing_apology": "No apology or empathy",
    "voice_rule": "Playbook voice rule",
}

LANGUAGES: dict[str, str] = {"en": "English", "nl": "Dutch", "da": "Danish", "de": "German", "fr": "French", "es": "Spanish"}

# A writer needs the first few dozen hits, not thousands on pasted junk; the cap also keeps
# the JSON the composer receives small.
MAX_FINDINGS_PER_RULE = 50
EXCERPT_LIMIT = 120
# How far from a deadline we still report the commitment as part of the same excerpt.
PROMISE_EXCERPT_REACH = 160
# How far back an outcome may be marked as already done ("was restored", "ist behoben").
COMPLETION_WINDOW = 40

_MESSAGES = {
    "defensive": "Defensive: '{excerpt}' argues with the reader. Say what you are doing about it.",
    "blaming": "Blaming: '{excerpt}' points at someone else. Own the problem; who did what can come later.",
    "justifying": "Justifying: '{excerpt}' explains before it helps. Lead with empathy and what you are doing.",
    "dismissive": "Dismissive: '{excerpt}' plays down what people feel. Acknowledge the impact on them.",
    "absolute": "Absolute claim: '{excerpt}' may be proven wrong tomorrow. Say what you know now.",
    "over_promise": (
        "Promise with a deadline: '{excerpt}'. Keep it only if you are sure; record it as a tracked "
        "promise with a deadline so someone owns it, or drop the time."
    ),
    "missing_apology": "No apology or empathy found. Acknowledge the people affected first, for example '{example}'.",
    "voice_rule": "Voice rule '{voice_rule}': found '{excerpt}'.",
}


@dataclass(frozen=True)
class Finding:
    """One piece of advice. start/end are character offsets into the checked text, -1 for
    whole-text findings; excerpt is the matched text, shortened to EXCERPT_LIMIT characters."""

    rule: str
    message: str
    start: int
    end: int
    excerpt: str

    def as_dict(self) -> dict:
        return {
            "rule": self.rule,
            "label": RULES[self.rule],
            "message": self.message,
            "start": self.start,
            "end": self.end,
            "excerpt": self.excerpt,
        }


# Phrase tables. Each entry is a regular-expression fragment matched between word
# boundaries, written in lower case because the text is lower-cased before matching; a
# literal space stands for any run of whitespace and a straight apostrophe also matches the
# typographic one. "apology" is what counts as empathy; "deadline", "commitment", "outcome",
# "completed" and "update_schedule" feed over_promise.
_WEEKDAYS = {
    "en": "monday|tuesday|wednesday|thursday|friday|saturday|sunday",
    "nl": "maandag|dinsdag|woensdag|donderdag|vrijdag|zaterdag|zondag",
    "da": "mandag|tirsdag|onsdag|torsdag|fredag|lørdag|søndag",
    "de": "montag|dienstag|mittwoch|donnerstag|freitag|samstag|sonntag",
    "fr": "lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche",
    "es": "el lunes|el martes|el miércoles|el jueves|el viernes|el sábado|el domingo",
}
_CLOCK = r"\d{1,2}[:.]\d{2}"

_PHRASES: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "defensive": (
            "we (?:did|have done) nothing wrong", "we (?:did not|didn't|have not|haven't) (?:do|done) anything wrong",
            "(?:that|this|it) is (?:simply |just )?(?:not true|untrue|false)", "(?:that|this|it)'s (?:simply |just )?(?:not true|untrue|false)",
            "(?:followed|complied with) (?:all|every) (?:the )?(?:relevant |applicable )?(?:procedures?|protocols?|rules|guidelines|regulations)",
            "with (?:all )?due respect", "we (?:strongly |firmly |categorically )?(?:reject|deny|refute)", "not our fault",
            "we stand by (?:our|the|this)", "(?:you are|you're) (?:wrong|mistaken)", "we acted (?:entirely |fully )?(?:correctly|appropriately|properly)",
            "no comment",
        ),
        "blaming": (
            "(?:due to|caused by|because of) (?:a |an |the |our |one of our )?(?:third[- ]party |external )?(?:supplier|vendor|contractor|subcontractor|partner|provider)s?",
            "(?:due to|caused by|because of) (?:a |the )?third[- ]part(?:y|ies)",
            "(?:supplier|vendor|contractor|partner|provider)'s fault", "fault of (?:the |our |a )?(?:supplier|vendor|contractor|partner|provider)",
            "(?:customers|users|people) who (?:misused|abused|did not follow|didn't follow)", "(?:misuse|misused) by (?:customers|users)",
            "(?:user|customer) error", "human error", "rogue (?:employee|member of staff|staff member)",
            "(?:a single|one|an individual|a junior) (?:employee|staff member|member of staff) (?:who|acting|made)",
            "(?:beyond|outside|outside of) our control",
        ),
        "justifying": (
            "(?:this|it) (?:happened|occurred|was) because", "the reason (?:for this|this happened) (?:is|was)",
            "in our defen[cs]e", "to be fair", "in fairness", "(?:it is|it's) important to (?:understand|note|remember|point out) that",
            "(?:please|you (?:have|need) to) understand that", "(?:bear|keep) in mind that", "let (?:us|me) explain",
            "to put this (?:into|in) (?:context|perspective)", "(?:we were|we're) (?:only|just) trying to", "industry[- ](?:standard|practice)",
        ),
        "dismissive": (
            "isolated (?:incident|case|issue|event)s?", "one-off", "a (?:small|tiny|very small|limited) (?:number|handful|minority|percentage) of",
            "a handful of", "only a few", r"overreact\w*", "no (?:cause|need|reason) for (?:concern|alarm|panic|worry)", "nothing to worry about",
            "any inconvenience", "if (?:anyone|anybody|you|people|someone) (?:was|were|felt|feels?|has been|have been|got) (?:offended|upset|hurt)",
            "if we (?:offended|upset|hurt)", "sorry (?:if|that) you (?:feel|felt)", "sorry you feel", "minor (?:issue|glitch|hiccup|inconvenience|problem)",
            "blown out of proportion", "calm down", "a misunderstanding",
        ),
        "absolute": (
            r"100\s*% (?:safe|secure|sure|certain|guaranteed)", "one hundred per ?cent", "(?:completely|totally|entirely|perfectly|absolutely) (?:safe|secure|harmless|risk-free)",
            "never (?:happens|happened|will happen|happen again|again)", "(?:will|would|can|could) never", "(?:will not|won't|cannot|can't) (?:ever )?happen again",
            "guarantee[sd]?", "no risk", "zero risk", "risk-free", r"(?<!as\s)always", "(?:fully|completely) (?:resolved|fixed|restored)",
        ),
        "apology": (
            "(?:we are|we're|we) (?:deeply |truly |very |so |really |sincerely )?sorry", "we (?:sincerely |unreservedly |deeply )?apologi[sz]e",
            "(?:our|sincere|deepest|unreserved) apolog(?:y|ies)", "we understand (?:how|why|your|the)", "we know how", "we hear you",
            "(?:this|it) should (?:not|never) have happened", "we (?:got this wrong|made a mistake|let you down)",
            "we (?:take|accept) (?:full )?responsibility", "our thoughts are with", "we (?:deeply |sincerely )?regret (?:that|what|the harm|the distress)",
        ),
        "deadline": (
            r"(?:within|in|under) (?:the next |less than |about |around |just )?(?:\d{1,4}|a|an|one|two|three|four|five|ten|twelve|fifteen|twenty|thirty|forty-eight|a few|a couple of|half an) (?:business |working )?(?:minutes?|mins?|hours?|hrs?|days?|weeks?)",
            "within the (?:hour|day|week)", "in the next (?:hour|few (?:minutes|hours|days))",
            rf"(?:by|before|at|no later than) (?:\d{{1,2}}(?:[:.]\d{{2}})?\s*(?:am|pm|a\.m\.|p\.m\.)|{_CLOCK}|noon|midday|midnight)",
            rf"by (?:tonight|tomorrow|today|(?:the )?end of (?:the |this )?(?:day|week)|close of business|{_WEEKDAYS['en']})",
            r"(?<!earlier\s)(?<!since\s)today", "tonight", "tomorrow", "shortly", r"(?<!as\s)soon(?!\s+as(?!\w))", "any minute(?: now)?", "in no time",
        ),
        "commitment": (
            "will", "(?:we|you|i|it|they|that|this)'ll", "shall", "going to", "promise[sd]?", "guarantee[sd]?", "commit(?:ted)? to", "can expect", "expect to",
        ),
        "outcome": (
            "fixed", "resolved", "repaired", "restored", "sorted(?: out)?", "back (?:online|up|to normal|in stock)", "up and running",
            "refund(?:s|ed)?", "reimburse[sd]?", "compensate[sd]?", "(?:call|phone|ring|contact|email|update) you(?: back)?", "get back to you",
        ),
        "completed": ("was", "were", "been", "had", "has", "have", "already", "is now", "are now"),
        "update_schedule": (
            "(?:next|further|new|another|latest|an|our|the) (?:public )?updates?", "keep you (?:updated|posted|informed)", "more information",
            "press (?:conference|briefing)", "(?:next|further|new|full) statement",
        ),
    },
    "nl": {
        "defensive": (
            "(?:we|wij) hebben niets (?:verkeerd|fout) gedaan", "(?:dat|dit|het) is (?:gewoon |simpelweg )?niet waar", "(?:dat|dit) klopt (?:gewoon |helemaal )?niet",
            "alle (?:procedures|protocollen|regels|voorschriften) (?:gevolgd|nageleefd|gehouden)", "met alle respect",
            "(?:we|wij) (?:ontkennen|weerspreken|verwerpen)", "niet onze schuld", "(?:we|wij) staan (?:volledig )?achter (?:ons|onze|deze|dit)", "geen commentaar",
        ),
        "blaming": (
            "(?:door|vanwege|wegens) (?:een |de |onze )?(?:externe partij|derde partij|derden|leverancier|partner|onderaannemer)",
            "(?:fout|schuld) van (?:de |onze |een )?(?:leverancier|partner|externe partij|derde partij|onderaannemer|medewerker)",
            "(?:klanten|gebruikers) die (?:het product |de dienst )?(?:misbruik|verkeerd)", "verkeerd gebruik", "menselijke fout",
            "buiten onze (?:macht|schuld|controle)", "overmacht",
        ),
        "justifying": (
            "dit (?:is gebeurd|gebeurde|kwam) (?:doordat|omdat)", "ter (?:onze )?verdediging", "eerlijk is eerlijk", "om eerlijk te zijn",
            "het is belangrijk (?:om )?te (?:begrijpen|weten|beseffen) dat", "(?:u|je) moet begrijpen dat", "(?:we|wij) wilden (?:alleen|slechts)",
        ),
        "dismissive": (
            "(?:geïsoleerd|op zichzelf staand|eenmalig|incidenteel) (?:incident|geval)", "een (?:klein|beperkt|gering) aantal", "een handjevol",
            "(?:slechts|maar) (?:enkele|een paar)", "overdreven (?:reactie|gereageerd)", "geen (?:enkele )?reden (?:tot|voor) (?:zorg|paniek|ongerustheid)",
            "(?:eventueel|eventuele|enig|het) ongemak", "als (?:iemand|u|je|jij|mensen) (?:zich )?(?:beledigd|gekwetst)", "(?:sorry|het spijt ons) als (?:u|je|jullie|iemand)",
        ),
        "absolute": (
            r"100\s*% (?:veilig|zeker|betrouwbaar)", "(?:volledig|helemaal|compleet|absoluut|totaal) (?:veilig|ongevaarlijk|risicoloos)",
            "gebeurt nooit", "nooit (?:meer )?(?:gebeuren|gebeurt|voorkomen)", r"garander\w*", "gegarandeerd", "geen (?:enkel )?risico", r"(?<!zoals\s)altijd",
            "volledig (?:opgelost|hersteld|verholpen)",
        ),
        "apology": (
            "het spijt (?:ons|me)", "sorry", "(?:onze|mijn) (?:oprechte )?excuses", "(?:we|wij) (?:bieden|maken) (?:onze )?excuses",
            "(?:we|wij) begrijpen (?:hoe|dat|uw|jullie|je)", "(?:we|wij) weten hoe", "dit had (?:nooit|niet) mogen gebeuren",
            "(?:we|wij) hebben (?:een fout|fouten) gemaakt", "(?:we|wij) nemen (?:de (?:volle )?)?verantwoordelijkheid",
        ),
        "deadline": (
            r"(?:binnen|over|in) (?:de komende |ongeveer )?(?:\d{1,4}|een|één|twee|drie|vier|vijf|tien|twintig|dertig|enkele|een paar|anderhalf) (?:minuten|minuut|min|uur|uren|dagen|dag|werkdagen|werkdag|weken|week)",
            "(?:binnen|over) (?:een )?half ?uur", rf"(?:om|voor|vóór|uiterlijk|tegen) (?:{_CLOCK}(?: uur)?|\d{{1,2}} uur)",
            rf"uiterlijk (?:vandaag|morgen|{_WEEKDAYS['nl']})", r"(?<!eerder\s)vandaag", "vanavond", "vanmiddag", "morgen", "straks", "binnenkort",
        ),
        "commitment": ("zal", "zullen", "zult", "(?:we|wij) gaan", "gaan (?:we|wij)", "belo(?:of|ven)", r"garander\w*", "toezeggen", "zeggen (?:wij |we )?toe", "(?:u|je|jij) (?:krijgt|ontvangt)"),
        "outcome": (
            "opgelost", "verholpen", "hersteld", "gerepareerd", "weer (?:online|beschikbaar|bereikbaar|in de lucht)", "terugbetaa?ld", "terugbetaling", "geld terug",
            "(?:bellen|contacteren|mailen) (?:we |wij )?(?:u|je|jou)", "(?:u|je|jou) (?:terug)?bellen", "terugbellen", "contact met (?:u|je|jou) op",
        ),
        "completed": ("is", "zijn", "werd", "werden", "was", "waren", "heeft", "hebben", "inmiddels", "al"),
        "update_schedule": ("(?:volgende|nieuwe|verdere|een|onze) update", "op de hoogte", "meer informatie", "persconferentie"),
    },
    "da": {
        "defensive": (
            "vi har ikke gjort noget (?:forkert|galt)", "(?:det|dette) er (?:simpelthen |bare |slet )?ikke (?:sandt|rigtigt|korrekt)", "det passer (?:simpelthen |bare |slet )?ikke",
            "(?:fulgt|overholdt) alle (?:procedurer|regler|retningslinjer|protokoller)", "med al (?:mulig )?respekt",
            "vi (?:afviser|benægter|tilbageviser)", "ikke vores skyld", "ingen kommentarer",
        ),
        "blaming": (
            r"(?:på grund af|pga\.?|skyldes) (?:en |vores |den |det )?(?:tredjepart|leverandør|underleverandør|samarbejdspartner|partner|ekstern)\w*",
            "(?:leverandørens|partnerens|tredjepartens|underleverandørens) (?:skyld|fejl)", "menneskelig fejl",
            r"(?:kunder|brugere),? (?:der|som) (?:har )?(?:misbrugt|brugt (?:\w+ )?forkert)", "forkert brug", "(?:en|én) enkelt medarbejder", "uden for vores kontrol",
        ),
        "justifying": (
            "(?:dette|det) (?:skete|opstod),? fordi", "til vores forsvar", "for at være (?:ærlig|fair|retfærdig)",
            "det er vigtigt at (?:forstå|understrege|huske|påpege),? at", "(?:du|i|man) (?:må|skal) forstå,? at", "for at sætte (?:det|tingene) i perspektiv",
        ),
        "dismissive": (
            "(?:enkeltstående|isoleret|isolerede) (?:tilfælde|hændelse)", "et (?:lille|begrænset|meget lille) antal", "en håndfuld", "overreaktion", r"overreager\w*",
            "ingen grund til (?:bekymring|panik|at bekymre sig)", "(?:eventuelle|de) gener", "ulejlighed(?:en)?",
            "hvis (?:nogen|du|i|nogle) (?:har )?(?:følt|følte|føler) (?:sig|dig|jer) (?:stødt|krænket|såret)", "(?:undskyld|beklager),? hvis (?:du|i|nogen)",
        ),
        "absolute": (
            r"100\s*% (?:sikker|sikkert|sikre)", r"(?:fuldstændig|helt|komplet|absolut) (?:sikker|sikkert|sikre|ufarlig\w*|risikofri\w*)", "sker aldrig",
            "aldrig (?:ske|sker) igen", r"garanter\w*", "ingen risiko", r"(?<!som\s)altid", "(?:fuldt|fuldstændig|helt) (?:løst|udbedret|genoprettet)",
        ),
        "apology": (
            "(?:vi er|er vi) (?:meget |dybt |oprigtigt |virkelig )?kede? af", "vi beklager", "(?:vi )?undskyld(?:er)?", "vi forstår (?:godt,? )?(?:hvor|at|jeres|din|jer)",
            "vi ved,? hvor", "det burde (?:aldrig |ikke )?være sket", "vi har (?:begået|lavet) en fejl", "vi tager (?:det fulde |fuldt |hele )?ansvar(?:et)?",
        ),
        "deadline": (
            r"(?:inden for|indenfor|inden|om|i løbet af) (?:de næste )?(?:\d{1,4}|en|et|to|tre|fire|fem|ti|tyve|få|et par|en halv) (?:minutter|minut|min|timer|time|dage|dag|uger|uge|hverdage)",
            r"kl\.\s*\d{1,2}(?:[:.]\d{2})?", r"klokken \d{1,2}(?:[:.]\d{2})?", rf"senest (?:i dag|i morgen|{_WEEKDAYS['da']})",
            r"(?<!tidligere\s)i dag", "i aften", "i eftermiddag", "i morgen", r"(?<!så\s)snart", "om lidt",
        ),
        "commitment": ("vil", "kommer (?:vi |du |i )?til at", "lover", "garanterer", "forpligter (?:os|vi os)", "skal nok"),
        "outcome": (
            "løst", "udbedret", "genoprettet", "repareret", r"refunder\w*", "refusion", "pengene tilbage", "(?:online|tilgængelig|oppe) igen",
            "ringer (?:til )?(?:dig|jer)", "ringe (?:til )?(?:dig|jer)", "kontakte[r]? (?:dig|jer)", "vender tilbage",
        ),
        "completed": ("blev", "er", "var", "har", "havde", "allerede", "nu"),
        "update_schedule": ("(?:næste|ny|en) opdatering", "holde (?:dig|jer) (?:orienteret|opdateret)", "mere information", "pressemøde"),
    },
    "de": {
        "defensive": (
            "(?:wir haben|haben wir) nichts (?:falsch|falsches|unrechtes|verkehrt) (?:gemacht|getan)", "(?:das|dies|es) ist (?:schlicht |einfach )?(?:nicht wahr|falsch)",
            "(?:das|dies) stimmt (?:so |einfach |schlicht )?nicht", "alle (?:vorschriften|verfahren|regeln|richtlinien|protokolle|vorgaben) (?:eingehalten|befolgt)",
            "bei allem (?:gebotenen )?respekt", "(?:vorwürfe|anschuldigungen|kritik) (?:entschieden |klar |aufs schärfste )?zurück", "nicht unsere schuld",
            "korrekt gehandelt", "kein kommentar",
        ),
        "blaming": (
            r"(?:aufgrund|wegen|durch) (?:eines |einen |einer |des |der |unseres |unserer |unseren )?(?:drittanbieter|dritten|zulieferer|lieferanten|partner|dienstleister|subunternehmer)\w*",
            "(?:schuld|fehler) (?:des|eines|unseres) (?:lieferanten|zulieferers|partners|dienstleisters|drittanbieters)", "menschliche[sn]? (?:fehler|versagen)",
            r"(?:kunden|nutzer|anwender|benutzer),? die (?:\w+ )?(?:\w+ )?(?:missbraucht|falsch (?:benutzt|verwendet|bedient))", "unsachgemäße[rn]? (?:gebrauch|nutzung|verwendung)",
            r"einzelne[rn]? mitarbeiter\w*", "außerhalb unserer kontrolle", "höhere gewalt",
        ),
        "justifying": (
            "(?:dies|das) (?:ist passiert|geschah|passierte|kam zustande),? weil", "zu unserer verteidigung", "fairerweise", "um fair zu sein",
            "es ist wichtig,? zu (?:verstehen|wissen|betonen),? dass", "(?:sie|man) muss (?:verstehen|wissen),? dass", "zur einordnung", r"branchen(?:standard|üblich)\w*",
        ),
        "dismissive": (
            r"einzelf(?:a|ä)ll\w*", r"(?:geringe|kleine|sehr kleine)\w* (?:anzahl|zahl|minderheit)", r"überreaktion\w*", r"übertrieben\w*",
            "kein(?:en)? grund zur (?:sorge|beunruhigung|panik)", "(?:eventuelle|etwaige|entstandene|alle|die) unannehmlichkeiten",
            r"(?:falls|wenn) sich (?:jemand|sie|einige|menschen) (?:\w+ )?(?:beleidigt|verletzt|gekränkt|angegriffen)", "leid,? (?:falls|wenn) (?:sie|du|ihr|sich)",
        ),
        "absolute": (
            r"100\s*% (?:sicher|ungefährlich)", "(?:völlig|absolut|vollkommen|komplett|hundertprozentig) (?:sicher|ungefährlich|harmlos|risikofrei)",
            "(?:passiert|geschieht|kommt) (?:so etwas |das )?nie(?:mals)?", "nie wieder (?:passieren|vorkommen|geschehen)", r"garantier\w*", "kein(?:erlei)? risiko",
            "vollständig (?:behoben|gelöst|wiederhergestellt)",
        ),
        "apology": (
            "tut (?:uns|mir) (?:sehr |aufrichtig |wirklich |unendlich )?leid", "wir entschuldigen uns", "bitten (?:sie |euch )?(?:aufrichtig |vielmals )?um entschuldigung",
            "wir verstehen,? (?:wie|dass|ihren|ihre|euren)", "wir wissen,? wie", "das hätte (?:nie |nicht )?passieren dürfen", "wir haben (?:einen fehler|fehler) gemacht",
            "wir übernehmen (?:dafür )?(?:die )?(?:volle )?verantwortung", "unsere gedanken sind bei", "wir bedauern (?:zutiefst|sehr|aufrichtig)",
        ),
        "deadline": (
            r"(?:innerhalb|binnen) (?:von |der nächsten |der kommenden )?(?:\d{1,4}|einer|eines|einem|zwei|drei|vier|fünf|zehn|zwanzig|wenigen|weniger|ein paar|einer halben) (?:minuten|minute|min|stunden|stunde|tagen|tage|tag|tages|werktagen|werktage|wochen|woche)",
            r"in (?:\d{1,4}|einer|einem|zwei|wenigen|ein paar|einer halben) (?:minuten|stunden|stunde|tagen|wochen|woche)",
            rf"(?:bis|um|gegen|spätestens|vor) (?:\d{{1,2}}(?:[:.]\d{{2}})? uhr|{_CLOCK})", rf"bis (?:heute abend|morgen|ende der woche|{_WEEKDAYS['de']})",
            r"(?<!seit\s)heute(?!\s+(?:morgen|früh|vormittag))", r"(?<!heute\s)(?<!guten\s)morgen", "in kürze", r"(?<!so\s)bald",
        ),
        "commitment": ("werden", "wird", "werde", "wirst", "versprechen", r"garantier\w*", "sichern (?:ihnen |dir |euch )?zu", "sagen (?:ihnen |dir |euch )?zu", "(?:sie|du|ihr) (?:erhalten|erhältst|bekommen|bekommst)"),
        "outcome": (
            "behoben", "gelöst", "wiederhergestellt", "repariert", "(?:zurück|rück)?erstattet", "(?:rück)?erstattung", "wieder (?:online|verfügbar|erreichbar)",
            r"rufen (?:wir )?(?:sie|dich|euch)(?!\s+uns)", "zurückrufen", r"melden (?:wir )?uns (?:\w+ )?bei (?:ihnen|dir|euch)", "kontaktieren (?:wir )?(?:sie|dich|euch)",
        ),
        "completed": ("wurde", "wurden", "ist", "sind", "war", "waren", "haben", "hat", "hatten", "bereits", "schon", "seit"),
        "update_schedule": ("(?:nächste|nächstes|neue|neues|weitere|weiteres|ein|unser) (?:update|stellungnahme|statement)", "auf dem laufenden", "pressekonferenz", "weitere informationen"),
    },
    "fr": {
        "defensive": (
            "(?:nous n'avons|on n'a) rien fait de (?:mal|répréhensible)", "(?:nous n'avons|on n'a) commis aucune (?:faute|erreur)", "c'est (?:totalement |tout simplement |absolument )?faux",
            "(?:ce n'est|c'est) (?:tout simplement )?pas vrai", r"(?:respecté|suivi)\w* (?:toutes les|l'ensemble des) (?:procédures|règles|normes|protocoles|consignes)",
            "sauf votre respect", "avec tout le respect", "nous (?:démentons|contestons|réfutons|rejetons)", "(?:ce n'est )?pas (?:de )?notre faute", "sans commentaire", "pas de commentaire",
        ),
        "blaming": (
            "(?:à cause|en raison|du fait) d'un (?:de nos )?(?:prestataire|fournisseur|sous-traitant|partenaire|tiers)", r"(?:imputable|dû|due|liée?) à (?:un|notre|nos|des) (?:prestataire|fournisseur|sous-traitant|partenaire|tiers)\w*",
            "(?:la )?faute (?:du|de notre|d'un) (?:prestataire|fournisseur|sous-traitant|partenaire)", "erreur humaine", "(?:clients|utilisateurs) (?:qui ont|ayant) (?:mal|détourné|fait un mauvais)",
            "mauvaise utilisation", r"(?:un|une) (?:salarié|employé|collaborateur)\w* (?:isolé|malveillant)\w*", r"indépendant\w* de notre volonté", "force majeure",
        ),
        "justifying": (
            "(?:cela|ceci) (?:s'est produit|est arrivé) parce que", "pour notre défense", "à notre décharge", "pour être (?:honnête|juste)s?",
            "il est important de (?:comprendre|rappeler|souligner|préciser) que", "(?:vous devez|il faut) comprendre que", "(?:remettre|replacer) (?:les choses )?en contexte",
        ),
        "dismissive": (
            "(?:incident|cas) isolés?", "un (?:petit|faible|très petit) nombre", "une poignée", "une minorité", "réaction excessive", r"surréaction\w*", r"surréagi\w*",
            "(?:aucune|pas de) (?:raison|lieu) de s'(?:inquiéter|alarmer|affoler)", "gêne occasionnée", "désagréments?",
            r"si (?:quelqu'un|certains|certaines|vous) (?:\w+ )?(?:\w+ )?(?:offensé|blessé|choqué)\w*", "désolée?s? si vous",
        ),
        "absolute": (
            r"100\s*% (?:sûrs?|sans risque|sécurisée?s?|fiables?)", r"(?:totalement|parfaitement|complètement|absolument) (?:sûrs?|sans danger|sans risque|inoffensi\w*)",
            "n'arrive jamais", "ne se (?:reproduira|produira) (?:plus )?jamais", "plus jamais", r"garanti\w*", "aucun risque", "zéro risque", "sans aucun risque",
            r"(?:entièrement|totalement|complètement) (?:résolu|réglé|rétabli)\w*",
        ),
        "apology": (
            "(?:sommes|suis) (?:sincèrement |profondément |vraiment |tellement )?désolée?s?", "nous (?:nous )?excusons", "(?:nos|toutes nos|sincères) excuses",
            "nous (?:comprenons|savons) (?:à quel point|combien|votre|la)", "nous regrettons (?:profondément|sincèrement)", "n'aurait (?:jamais |pas )?dû (?:se produire|arriver)",
            "nous avons commis une erreur", "nous (?:en )?assumons (?:l'entière |toute la |pleinement |la )?responsabilité", "nos pensées vont",
        ),
        "deadline": (
            r"(?:dans|d'ici|sous|en moins de) (?:les |la )?(?:\d{1,4}|une|un|deux|trois|quatre|cinq|dix|vingt|trente|quelques) (?:minutes?|min|heures?|h|jours?|semaines?)",
            "dans (?:l'heure|la journée|la soirée)", rf"(?:à|avant|d'ici|vers|pour) (?:\d{{1,2}}\s*h(?:eures?)?(?:\s*\d{{2}})?|{_CLOCK})",
            rf"(?:d'ici|avant) (?:ce soir|demain|midi|la fin de (?:la )?(?:journée|semaine)|{_WEEKDAYS['fr']})", r"(?<!tôt\s)aujourd'hui", "ce soir", "demain", "sous peu", "bientôt",
        ),
        "commitment": (
            r"\w+erons", "serons", "aurons", "ferons", "pourrons", "devrons", "tiendrons", "reviendrons", "répondrons", "prendrons", "enverrons", "fournirons", "rétablirons",
            "sera", "seront", "serez", "recevrez", "aurez", "(?:nous )?allons", "va être", "vont être", "promettons", "garantissons", "nous (?:nous )?engageons",
        ),
        "outcome": (r"rétabli\w*", r"résolu\w*", r"corrigé\w*", r"réparé\w*", r"rembours\w*", r"de nouveau (?:en ligne|disponible\w*|accessible\w*|opérationnel\w*)", r"vous (?:re)?(?:rappel|contact)\w*"),
        "completed": ("a été", "ont été", "été", "est", "sont", "était", "étaient", "avons", "avez", "déjà", "depuis"),
        "update_schedule": ("(?:prochain|nouveau|nouvelle|prochaine) (?:point|mise à jour|communiqué|communication)", "mise à jour", "tenir informée?s?", "conférence de presse", "plus d'informations"),
    },
    "es": {
        "defensive": (
            "no (?:hemos|hicimos) (?:hecho )?nada (?:malo|mal|incorrecto)", "(?:eso|esto) no es (?:cierto|verdad)", "(?:eso|esto) es (?:completamente |totalmente )?falso",
            "(?:seguimos|hemos seguido|cumplimos|hemos cumplido) (?:con )?(?:todos los|todas las) (?:procedimientos|protocolos|requisitos|normas)",
            "con (?:todo )?(?:el )?(?:debido )?respeto", "(?:negamos|rechazamos|desmentimos)", "no (?:es|fue) (?:nuestra culpa|culpa nuestra)", "sin comentarios",
        ),
        "blaming": (
            "(?:debido a|por culpa de|a causa de|causad[oa] por) (?:un |una |nuestro |nuestra |el |la )?(?:terceros?|proveedor|proveedora|socio|contratista|subcontratista|empresa externa)",
            "culpa del (?:proveedor|socio|contratista|tercero)", "error humano", "(?:clientes|usuarios) que (?:hicieron un )?(?:mal uso|usaron mal|utilizaron (?:mal|incorrectamente))",
            "mal uso", "(?:un|una) (?:empleado|empleada|trabajador|trabajadora) (?:aislad[oa]|desleal)", "ajen[oa]s? a (?:nuestra voluntad|nuestro control)", "fuerza mayor",
        ),
        "justifying": (
            "(?:esto|eso) (?:ocurrió|pasó|sucedió|se produjo) porque", "en nuestra defensa", "para ser (?:justos|sinceros|honestos)",
            "es importante (?:entender|comprender|aclarar|señalar|recordar) que", "(?:deben|debe|tienen que|tiene que) (?:entender|comprender) que", "cabe (?:señalar|aclarar) que",
        ),
        "dismissive": (
            "(?:incidente|caso|hecho) aislado", "un (?:pequeño|reducido|escaso) número", "un puñado de", "una minoría", "reacción exagerada", r"exagerad\w*",
            "no hay (?:ningún )?(?:motivo|razón|causa) (?:de|para) (?:preocupación|alarma|preocuparse|alarmarse)", "(?:las|cualquier|posibles) molestias", "(?:los|cualquier|posibles) inconvenientes",
            r"si (?:alguien|usted|ustedes|alguno|algunos|alguna persona) se (?:\w+ )?(?:\w+ )?(?:ofendid|herid|molest)\w*", "sentimos si",
        ),
        "absolute": (
            r"100\s*% (?:segur\w+|fiables?)", r"(?:totalmente|completamente|absolutamente|perfectamente) (?:segur\w+|inofensiv\w+)", "nunca (?:pasa|ocurre|sucede)",
            "(?:nunca|no) volverá a (?:pasar|ocurrir|suceder)", r"garantiz\w*", "garantía", "sin (?:ningún )?riesgo", "ningún riesgo", "cero riesgos?", r"(?<!como\s)siempre",
            r"(?:totalmente|completamente) (?:resuelt|solucionad)\w*",
        ),
        "apology": (
            r"(?:lo )?sentimos(?! si(?!\w))", r"pedimos (?:\w+ )?(?:disculpas|perdón)", "nuestras (?:más )?(?:sinceras )?disculpas", "nos disculpamos",
            "(?:entendemos|comprendemos|sabemos) (?:lo|cuánto|cómo|su|tu|vuestra|la)", "no (?:debería|debió) (?:haber )?(?:pasado|ocurrido)", "cometimos un error", "nos equivocamos",
            "asumimos (?:toda |plena |la )?(?:la )?responsabilidad",
        ),
        "deadline": (
            r"(?:en|dentro de|en menos de|en un plazo de) (?:las próximas |los próximos )?(?:\d{1,4}|un|una|dos|tres|cuatro|cinco|diez|veinte|treinta|unos|unas|pocos|pocas|media) (?:minutos?|min|horas?|h|días?|dias?|semanas?)",
            r"(?:a|antes de|hacia|para) las \d{1,2}(?:[:.]\d{2})?", rf"antes de (?:mañana|esta noche|fin de (?:día|semana)|{_WEEKDAYS['es']})",
            "hoy(?! en día)", "esta noche", "esta tarde", r"(?<!esta\s)(?<!la\s)mañana", "en breve", r"(?<!tan\s)pronto",
        ),
        "commitment": (
            r"\w+(?:ar|er|ir)(?:á|án|emos)", "tendremos", "podremos", "habremos", "haremos", "diremos", "pondremos", "tendrá", "tendrán", "podrá", "podrán", "habrá", "hará",
            "vamos a", "va a", "van a", "prometemos", "nos comprometemos", "garantizamos",
        ),
        "outcome": (r"resuelt\w*", r"solucionad\w*", r"restablecid\w*", r"reparad\w*", r"reembols\w*", r"de nuevo (?:en línea|disponible\w*|operativ\w*)", r"(?:le|te|les|os) (?:llam|contact|devolv)\w*"),
        "completed": ("fue", "fueron", "sido", "ya", "está", "están", "estaba", "hemos", "han", "ha", "quedó", "desde"),
        "update_schedule": ("(?:próxima|nueva|siguiente) (?:actualización|comunicación)", "actualización", r"(?:os|le|les) mantendremos informad\w*", "rueda de prensa", "más información"),
    },
}

# Shown in the missing_apology message, in the statement's own language.
_APOLOGY_EXAMPLES = {"en": "We are sorry…", "nl": "Het spijt ons…", "da": "Vi er kede af det…", "de": "Es tut uns leid…", "fr": "Nous sommes désolés…", "es": "Lo sentimos…"}

_PHRASE_RULES = ("defensive", "blaming", "justifying", "dismissive", "absolute")


def _alternatives(phrases: tuple[str, ...]) -> str:
    return "|".join(phrase.replace(" ", r"\s+").replace("'", "['’]") for phrase in phrases)


def _compile(alternatives: str) -> re.Pattern[str]:
    # No IGNORECASE: patterns run on lower-cased text (see _lower), three times faster.
    # (?<!\w)…(?!\w) rather than \b: it also holds when a phrase starts or ends with a
    # non-word character. \w is Unicode-aware, so an accented letter is part of a word:
    # "never" never matches inside "nevertheless", nor "siempre" inside "siempreviva".
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)")


def _compile_language(table: dict[str, tuple[str, ...]]) -> dict[str, re.Pattern[str]]:
    compiled = {key: _compile(_alternatives(phrases)) for key, phrases in table.items() if key not in _PHRASE_RULES}
    # One scan for the five advice rules instead of five; a phrase is reported under the
    # first rule that matches it.
    compiled["advice"] = _compile("|".join(f"(?P<{rule}>{_alternatives(table[rule])})" for rule in _PHRASE_RULES))
    return compiled


_COMPILED: dict[str, dict[str, re.Pattern[str]]] = {language: _compile_language(table) for language, table in _PHRASES.items()}

# Candidates only; _sentence_starts decides. Starting with a character class lets `re`
# skip ahead in C instead of trying every position.
_SENTENCE_END = re.compile(r"[.!?…\n][.!?…\n]*\s*")
_NOT_A_SENTENCE_END = re.compile(r"(?<!\w)(?:[ap]\.m|kl)\Z")  # "5 p.m. today", Danish "kl. 15"


def is_covered(language: str) -> bool:
    """Whether the phrase checks run for this language tag ("en-GB" counts as "en")."""
    return _base_language(language) in LANGUAGES


def _base_language(language: str) -> str:
    return (language or "").strip().lower().replace("_", "-").split("-")[0]


def _lower(text: str) -> str:
    """text.lower() with the same length, so offsets into it are offsets into text."""
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    # A few characters grow when lower-cased ("İ" becomes "i̇"); those stay as they are.
    return "".join(character.lower() if len(character.lower()) == 1 else character for character in text)


def check_tone(
    text: str, *, language: str = "en", voice_rules: list[dict] | None = None, require_apology: bool = False
) -> list[Finding]:
    """Advice on a draft, sorted by start offset. Never raises on odd input and never
    blocks anything: the caller shows the findings beside the draft."""
    text = text or ""
    language = _base_language(language)
    findings: list[Finding] = []
    patterns = _COMPILED.get(language)
    if patterns is not None:
        lowered = _lower(text)
        spans_by_rule: dict[str, list[tuple[int, int]]] = {rule: [] for rule in _PHRASE_RULES}
        for match in patterns["advice"].finditer(lowered):
            spans_by_rule[match.lastgroup].append(match.span())
        for rule, spans in spans_by_rule.items():
            findings += _findings_for_spans(text, rule, spans)
        findings += _findings_for_spans(text, "over_promise", _timed_promises(lowered, patterns))
        if require_apology and not patterns["apology"].search(lowered):
            message = _MESSAGES["missing_apology"].format(example=_APOLOGY_EXAMPLES[language])
            findings.append(Finding("missing_apology", message, -1, -1, ""))
    for kind, rule_text in _voice_rule_pairs(voice_rules):
        checks = _voice_checks(rule_text) if kind == "dont" else ()
        spans = [span for check in checks for span in check(text)]
        findings += _findings_for_spans(text, "voice_rule", spans, voice_rule=_shorten(rule_text))
    findings.sort(key=lambda finding: (finding.start, finding.rule, finding.end))
    return findings


def _timed_promises(text: str, patterns: dict[str, re.Pattern[str]]) -> list[tuple[int, int]]:
    """Spans of sentences' deadline + commitment pairs; see the module docstring."""
    spans: list[tuple[int, int]] = []
    sentence_starts: list[int] | None = None
    anchors_by_sentence: dict[int, list[tuple[int, int]]] = {}
    for deadline in patterns["deadline"].finditer(text):
        if sentence_starts is None:  # Most drafts have no deadline; split only when needed.
            sentence_starts = _sentence_starts(text)
        index = bisect_right(sentence_starts, deadline.start()) - 1
        if index not in anchors_by_sentence:
            sentence_end = sentence_starts[index + 1] if index + 1 < len(sentence_starts) else len(text)
            anchors_by_sentence[index] = _promise_anchors(text, patterns, sentence_starts[index], sentence_end)
        anchors = anchors_by_sentence[index]
        if anchors:
            spans.append(_promise_span(anchors, deadline.start(), deadline.end()))
        if len(spans) > 4 * MAX_FINDINGS_PER_RULE:
            break
    return spans


def _sentence_starts(text: str) -> list[int]:
    """Where sentences start: after . ! ? … followed by whitespace, and after line breaks.
    "14.00" is no end because no whitespace follows the dot."""
    starts = [0]
    for match in _SENTENCE_END.finditer(text):
        ending = match.group()
        followed_by_space = len(ending.rstrip()) < len(ending) or match.end() == len(text)
        abbreviation = _NOT_A_SENTENCE_END.search(text, max(0, match.start() - 4), match.start())
        if "\n" in ending or (followed_by_space and not abbreviation):
            starts.append(match.end())
    return starts


def _promise_anchors(text: str, patterns: dict[str, re.Pattern[str]], start: int, end: int) -> list[tuple[int, int]]:
    """Commitment and outcome spans of one sentence, or none when it promises nothing."""
    outcomes = [
        match.span()
        for match in patterns["outcome"].finditer(text, start, end)
        if not patterns["completed"].search(text, max(start, match.start() - COMPLETION_WINDOW), match.start())
    ]
    if not outcomes and patterns["update_schedule"].search(text, start, end):
        return []
    commitments = [match.span() for match in patterns["commitment"].finditer(text, start, end)]
    return sorted(outcomes + commitments) if outcomes or commitments else []


def _promise_span(anchors: list[tuple[int, int]], deadline_start: int, deadline_end: int) -> tuple[int, int]:
    # The excerpt runs from the first nearby commitment before the deadline ("will call you
    # within 10 minutes"), else to the last nearby one after it ("today we will refund").
    # Bisection, because a junk "sentence" can hold thousands of both.
    first_near = bisect_left(anchors, (deadline_start - PROMISE_EXCERPT_REACH,))
    if first_near < len(anchors) and anchors[first_near][0] < deadline_start:
        return anchors[first_near][0], deadline_end
    last_near = bisect_left(anchors, (deadline_end + PROMISE_EXCERPT_REACH,)) - 1
    if last_near >= 0 and anchors[last_near][0] >= deadline_start:
        return deadline_start, max(deadline_end, anchors[last_near][1])
    return deadline_start, deadline_end


def _findings_for_spans(text: str, rule: str, spans: list[tuple[int, int]], **message_fields: str) -> list[Finding]:
    findings = []
    for start, end in _merge(spans)[:MAX_FINDINGS_PER_RULE]:
        excerpt = _shorten(text[start:end])
        findings.append(Finding(rule, _MESSAGES[rule].format(excerpt=excerpt, **message_fields), start, end, excerpt))
    return findings


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _shorten(value: str) -> str:
    value = " ".join(value.split())
    return value if len(value) <= EXCERPT_LIMIT else value[: EXCERPT_LIMIT - 1] + "…"


# Voice rules. Only "dont" rules are checked, and only what a machine can check honestly:
# quoted phrases, and a handful of recognisable shapes. Everything else stays with the
# writer; the UI shows those rules beside the composer.
_QUOTED_PHRASE = re.compile(
    r'"([^"\n]{1,100})"|“([^”\n]{1,100})”|„([^“”\n]{1,100})[“”]|«\s*([^»\n]{1,100}?)\s*»|»([^«\n]{1,100})«'
    r"|‘(.{1,100}?)’(?!\w)|(?<!\w)'(.{1,100}?)'(?!\w)"  # the (?<!\w) keeps "Don't" from opening a quote
)
_EMOJI_CHARACTERS = "\U0001F000-\U0001FAFF\u2600-\u27BF\u2300-\u23FF\u2B50\u2B55\u2B1B\u2B1C"
# One flat run per emoji sequence (skin tones, variation selectors, joiners, flags): no
# nested repetition, so no backtracking blow-up on a wall of emoji.
_EMOJI = re.compile(f"[{_EMOJI_CHARACTERS}][{_EMOJI_CHARACTERS}\uFE0F\u200D\u20E3]*")
_LAUGHTER = re.compile(r"(?<!\w)(?:(?:ha){2,}h?|(?:he){2,}|(?:ja){2,}|(?:hi){2,}|lol|lmao|lmfao|rofl|mdr|xd)(?!\w)|[😂🤣😆😹]", re.I)
_HASHTAG = re.compile(r"(?<![\w#&/])#[^\W\d_]\w*")  # not "#1", "&#39;" or a URL fragment
_LONG_WORD = re.compile(r"(?<!\w)[^\W\d_]{4,}(?!\w)")


def _pattern_finder(pattern: re.Pattern[str]) -> SpanFinder:
    return lambda text: [match.span() for match in pattern.finditer(text)]


def _shouted_words(text: str) -> list[tuple[int, int]]:
    # `re` has no Unicode uppercase class; str.isupper() knows every script.
    return [match.span() for match in _LONG_WORD.finditer(text) if match.group().isupper()]


# (what in a rule's text asks for the check, what the check flags in the draft)
_SHAPES: tuple[tuple[re.Pattern[str], SpanFinder], ...] = (
    (re.compile(r"emoji|emoticon|smiley", re.I), _pattern_finder(_EMOJI)),
    (re.compile(r"exclamation|exclamación|uitroepteken|ausrufezeichen|udråbstegn", re.I), _pattern_finder(re.compile(r"[!¡]+"))),
    (re.compile(r"humou?r|jok(?:e|es|ing)\b|\blol\b|haha|funny|grappen|grapjes|\bwitz|blague|broma|chiste|\bsjov", re.I), _pattern_finder(_LAUGHTER)),
    (re.compile(r"hashtag", re.I), _pattern_finder(_HASHTAG)),
    (
        re.compile(
            r"all[- ]?caps|capital letters|capitals|caps ?lock|upper[- ]?case|block letters|\bshout(?:ing|s)?\b"
            r"|hoofdletters|gro(?:ß|ss)buchstaben|majuscules|mayúsculas|versaler|store bogstaver",
            re.I,
        ),
        _shouted_words,
    ),
)


def checkable_voice_rules(voice_rules: list[dict] | None) -> list[int]:
    """Indices of the voice rules check_tone actually checks, so the UI can mark them as
    machine-checked and leave the rest to the writer."""
    return [index for index, (kind, rule_text) in enumerate(_voice_rule_pairs(voice_rules)) if kind == "dont" and _voice_checks(rule_text)]


def _voice_rule_pairs(voice_rules: list[dict] | None) -> list[tuple[str, str]]:
    # Keeps every index (malformed rules become unchecked) so indices match the playbook's list.
    rules = []
    for rule in voice_rules or []:
        if isinstance(rule, dict) and isinstance(rule.get("rule"), str):
            rules.append((str(rule.get("kind", "")).strip().lower(), rule["rule"]))
        else:
            rules.append(("", ""))
    return rules


@functools.lru_cache(maxsize=512)
def _voice_checks(rule_text: str) -> tuple[SpanFinder, ...]:
    """The span finders for one "dont" rule; empty when the rule cannot be checked."""
    checks = []
    for quoted in _QUOTED_PHRASE.finditer(rule_text[:2000]):
        phrase = next(group for group in quoted.groups() if group is not None).strip()
        if phrase:
            checks.append(_literal_finder(phrase))
    checks += [finder for trigger, finder in _SHAPES if trigger.search(rule_text)]
    return tuple(checks)


def _literal_finder(phrase: str) -> SpanFinder:
    body = r"\s+".join(re.escape(word) for word in phrase.split())
    body = re.sub("['’]", lambda _: "['’]", body)  # either apostrophe matches both
    # Word boundaries only where the phrase has a word character at that edge, so a rule
    # quoting "!!" or "#fail" still matches.
    before = r"(?<!\w)" if phrase[0].isalnum() else ""
    after = r"(?!\w)" if phrase[-1].isalnum() else ""
    pattern = re.compile(before + body + after, re.IGNORECASE)
    return lambda text: [match.span() for match in pattern.finditer(text)]
