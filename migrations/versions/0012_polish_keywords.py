"""Polish keywords for the default topics

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 05:00:00

A request with no Cyrillic in it goes by its topics' keywords alone, and the default topics had
only Russian and English ones: a Polish request without a hashtag always had its author asked.
Every programme's topics whose code is a default one get these Polish keywords (those they do
not have yet, after theirs); topics a coordinator created keep theirs untouched. Going down
takes away exactly what was added: the run of these keywords at the end of the list, so a
keyword a topic had before keeps its place. Where a coordinator has changed the list since,
so that the run is no longer there, every one of these keywords goes.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

topics = sa.table(
    "topics",
    sa.column("id", sa.Integer),
    sa.column("code", sa.String),
    sa.column("keywords", sa.JSON),
)

# As the suggester compares them: Latin words get no Polish stemmer, so stems of four letters
# or more match the words they begin ("dotacj": dotacja, dotacji), shorter ones whole words
# ("krs", "zus"); several words for a phrase ("ekonomi społeczn"). Frozen here: the defaults
# in models/default_topics.py may change later, this revision must not.
# fmt: off
POLISH: dict[str, list[str]] = {
    "legal": [
        "prawn", "prawo", "przepis", "ustawa", "ustawy", "ustawą", "ustawę", "ustawod",
        "rozporządzen", "kodeks", "statut", "statuc", "rejestr", "zarejestr", "wyrejestr",
        "krs", "umow", "fundacj", "założ stowarzysz", "założ fundacj", "zaloz stowarzysz",
        "zaloz fundacj", "stowarzyszenie zwykł", "podat", "vat", "cit", "pit", "skarbow",
        "zus", "nip", "regon", "sąd", "sądu", "sądzie", "sądow", "pozew", "pozwu", "radca",
        "radcy", "adwokat", "notariu", "pełnomocn", "regulamin", "uchwał", "walne", "opp",
        "pożytku publiczn", "rodo", "dane osobow", "ochron danych", "inspektor ochron",
        "sprawozdan finansow", "licencj", "zezwoleni", "likwidacj", "spółk", "skarg", "spór",
        "sporu",
    ],
    "grants": [
        "dotacj", "dotacyj", "mikrogrant", "minigrant", "regranting", "konkurs", "wnios",
        "dofinansow", "finansowan", "współfinans", "fundusz", "budżet", "budzet", "budżec",
        "nabór", "nabor", "wkład", "fio", "efs", "eog", "unijn", "sponsor", "darczyń",
        "zbiórk", "crowdfund", "fundraising", "zrzutk", "kosztorys", "harmonogram", "wskaźnik",
        "kwalifikowaln", "beneficjen", "rozlicz", "ewaluacj", "subwencj", "pieniądz",
        "pieniędz",
    ],
    "rehabilitation": [
        "niepełnospraw", "niepelnospraw", "inwalid", "orzeczen", "zdrow", "terapi", "terapeut",
        "fizjo", "hipoterap", "dogoterap", "arteterap", "muzykoterap", "lekarz", "lekarsk",
        "leczen", "leczni", "medyczn", "szpital", "przychodn", "pielęgn", "wytchnieniow",
        "wózek", "wózk", "wozek", "wozk", "autyzm", "autyst", "porażen", "mózgow", "udar",
        "demencj", "alzheimer", "turnus", "sanatori", "ortop", "protez", "niesłysz", "głuch",
        "niewidom", "słabowidz", "słabosłysz", "migow", "podjazd", "ruchow", "choro", "chory",
        "chorych", "chorym", "leki", "leków", "masaż", "logoped", "sensoryczn", "pfron", "wtz",
        "operacj", "terapi zajęciow", "warsztat terapi",
    ],
    "business": [
        "ekonomi społeczn", "ekonomi spoleczn", "przedsiębior", "przedsiebior", "spółdziel",
        "spoldziel", "biznes", "sprzeda", "marketing", "promocj", "promow", "reklam", "klient",
        "cen", "cena", "ceny", "cenę", "cennik", "wycen", "przychody", "przychodów",
        "przychodu", "zysk", "dochody", "dochodu", "dochodów", "dochodow", "dochód",
        "gospodarcz", "odpłatn", "kawiarn", "catering", "sklep", "kredyt", "pożyczk", "inwest",
        "najem", "wynajem", "dzierżaw", "przetarg", "zamówie publiczn", "klauzul społeczn",
        "rentown", "opłacaln", "księgow", "ksiegow", "faktur", "fiskaln", "cis", "kis",
        "franczyz", "produkt", "asortyment", "konkurencj", "jarmark", "rękodzieł",
        "samozatrudn",
    ],
    "psychology": [
        "psychoterap", "psychiatr", "wypalen", "wypalon", "stres", "konflikt", "kryzys",
        "motywac", "zmotywow", "demotyw", "emocj", "lęk", "lęku", "lęki", "niepokój",
        "niepokoj", "depresj", "traum", "żałob", "samotn", "zmęczen", "zmęczon", "przemęcz",
        "bezsiln", "superwizj", "mediacj", "mediator", "grup wsparci", "kłótn", "mobbing",
        "przemoc", "uzależnien", "alkohol", "płacz", "bezsenn", "smut", "strach", "boję",
        "boimy", "nerw", "presj", "frustr", "zniechęc", "przytłocz", "samopoczuci", "śmier",
        "załaman", "przerast",
    ],
    "education": [
        "szkoleni", "szkolen", "szkoleń", "przeszkol", "szkol", "szkoł", "kurs", "warsztat",
        "edukac", "nauczan", "nauczyciel", "naucz", "uczeń", "uczni", "lekcj", "zajęci",
        "zajeci", "metodyk", "metodyczn", "metod", "trener", "wykład", "certyfikat", "egzamin",
        "podręcznik", "kompetencj", "umiejętnoś", "staż", "przedszkol", "pozalekcyjn",
        "e-learning",
    ],
}
# fmt: on


def _rows(connection: sa.Connection) -> Sequence[sa.Row[Any, Any, Any]]:
    """The topics of the default codes, in every programme."""
    query = sa.select(topics.c.id, topics.c.code, topics.c.keywords)
    return connection.execute(query.where(topics.c.code.in_(list(POLISH)))).all()


def upgrade() -> None:
    connection = op.get_bind()
    for row in _rows(connection):
        kept = list(row.keywords or [])
        added = [word for word in POLISH[row.code] if word not in kept]
        if added:
            connection.execute(
                topics.update().where(topics.c.id == row.id).values(keywords=[*kept, *added])
            )


def _added(keywords: list[str], polish: list[str]) -> int:
    """How many keywords at the end of the list are the ones the upgrade appended: the
    longest run that equals the Polish keywords missing from what comes before it."""
    for start in range(len(keywords)):
        before = keywords[:start]
        if keywords[start:] == [word for word in polish if word not in before]:
            return len(keywords) - start
    return 0


def downgrade() -> None:
    connection = op.get_bind()
    for row in _rows(connection):
        keywords = list(row.keywords or [])
        polish = POLISH[row.code]
        added = _added(keywords, polish)
        if added:
            kept = keywords[: len(keywords) - added]
        else:  # changed since: no telling which were there before
            kept = [word for word in keywords if word not in polish]
        if kept != keywords:
            connection.execute(topics.update().where(topics.c.id == row.id).values(keywords=kept))
