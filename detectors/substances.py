"""Toxic gases the park monitors, with the reference levels in ppm.

Sources: US EPA compiled final AEGLs (NRC technical support documents, cited per substance below); AIHA ERPG
handbook; NIOSH Pocket Guide IDLH list;
GBZ 2.1 occupational limits (mg/m3, converted here with ppm = mg/m3 x 24.45 / M at 25 degC, 1 atm).
"""

from __future__ import annotations

from dataclasses import dataclass

MOLAR_VOLUME_L = 24.45  # litres per mole at 25 degC and 1 atm


# Exposure durations of the AEGL tables (US EPA / NRC: 10 and 30 min, 1, 4 and 8 h), in minutes.
AEGL_DURATIONS_MIN: tuple[int, ...] = (10, 30, 60, 240, 480)
FiveDurations = tuple[float, float, float, float, float]


@dataclass(frozen=True, slots=True)
class Substance:
    """Reference data for one gas. Levels are ppm; ``None`` means no value is published."""

    formula: str
    molar_mass_g_mol: float
    aegl1_all: FiveDurations | None  # AEGL-1 at 10 / 30 / 60 min / 4 h / 8 h
    aegl2_all: FiveDurations
    aegl3_all: FiveDurations
    ten_berge_n: float  # C^n x t = k, the exponent the AEGL technical support document scales time with
    erpg: tuple[float | None, float, float]  # ERPG-1 / 2 / 3
    idlh: float
    occupational_limit_mg_m3: float  # GBZ 2.1 MAC, or PC-STEL where no MAC exists
    twa_limit_mg_m3: float | None = None  # GBZ 2.1 PC-TWA where one exists
    name_en: str = ""  # how alarm messages name the gas (rules/defaults/gas.yaml renders one rule set per gas)
    name_zh: str = ""

    @property
    def aegl1_60min(self) -> float | None:
        """AEGL-1 for 60 minutes."""
        return None if self.aegl1_all is None else self.aegl1_all[2]

    @property
    def aegl2(self) -> tuple[float, float, float]:
        """AEGL-2 for 10 / 30 / 60 minutes."""
        return self.aegl2_all[:3]

    @property
    def aegl3(self) -> tuple[float, float, float]:
        """AEGL-3 for 10 / 30 / 60 minutes."""
        return self.aegl3_all[:3]

    def aegl(self, level: int) -> FiveDurations | None:
        """AEGL-``level`` (1, 2, 3) at every published duration."""
        return (self.aegl1_all, self.aegl2_all, self.aegl3_all)[level - 1]

    def mg_m3_to_ppm(self, mg_m3: float) -> float:
        """Convert a mass concentration to ppm by volume."""
        return mg_m3 * MOLAR_VOLUME_L / self.molar_mass_g_mol

    @property
    def occupational_limit_ppm(self) -> float:
        """The occupational limit that GB/T 50493 detector alarm levels are based on, in ppm."""
        return self.mg_m3_to_ppm(self.occupational_limit_mg_m3)

    @property
    def lowest_level_ppm(self) -> float:
        """The lowest concentration any published level of this gas sets (occupational limits, every AEGL at every
        duration, ERPGs, IDLH): clean air reads below it, and a reading at or above it may raise an alarm."""
        levels = [self.occupational_limit_ppm, *self.aegl2_all, *self.aegl3_all, self.idlh]
        levels += [value for value in (*(self.aegl1_all or ()), *self.erpg) if value is not None]
        if self.twa_limit_mg_m3 is not None:
            levels.append(self.mg_m3_to_ppm(self.twa_limit_mg_m3))
        return min(levels)


# Where each reference number comes from, per substance and per row (AEGL-n: its five durations; ERPG-n; IDLH), as
# checked with the stored public copies the project's search reaches (2026-12). "source:" names the text the number
# was read from; "UNVERIFIED:" would say no text giving the number was reachable, and why the number is kept (it is
# never a new number); no row is unverified now. Secondary sources are named as such, with the primary text they cite.
# tests/detectors/test_substances.py pins every number and every status here, so a change to either is deliberate.
UNVERIFIED = "UNVERIFIED:"

# Two transcriptions of the primary tables, found in the public-code index the project's search reaches (2026-12; the
# index gives each file an id but hides its repository, so the id and each file's own header are the citation). Both
# are hand-typed Tcl arrays ("array set AEGL {...}", "array set ERPG {...}") headed "Updated 30 sep 2009".
# - EPA_AEGL_2009: "AEGL - Acute Exposure Guideline Level ... Number of final AEGLs: 50", transcribing US EPA,
#   "Compiled AEGL values" (http://www.epa.gov/oppt/aegl/pubs/compiled_aegls_050409.pdf); one line per substance,
#   "Name (CAS)" { ppm { {AEGL-1 AEGL-2 AEGL-3} per duration 10 min, 30 min, 1 h, 4 h, 8 h } }, a level left blank
#   where EPA prints "NR" (not recommended). Checked against the EPA table itself where a copy was reachable: its
#   rows for 1,1-dimethyl hydrazine, methyl hydrazine and magnesium aluminum phosphide equal those of EPA's "Final
#   AEGLs (162)", October 3, 2014, page 1 (copy at vdocuments.us/final-aegls-162-october-3-2014-final-aegls-page-3-
#   of-67-74-87-3-methyl-chloride.html), blanks where EPA prints NR. Its chlorine row equals the chlorine table cited
#   below except the 8-h AEGL-2 (0.70 there, 0.71 in the EPA-sourced table): the file has typing slips, so each value
#   taken from it is also checked against the NRC derivation where that text was reachable.
# - AIHA_ERPG_2009: "ERPG - Emergency Response Planning Guideline ... Number of ERPGs: 140 ... correct as of January
#   1, 2009", transcribing the AIHA ERPG list of 2009 (reference given: AIHA 2007 ERPG & WEEL Handbook, ISBN
#   978-1-931504-74-4); one line per substance, "Name (CAS)" { ppm { {ERPG-1 ERPG-2 ERPG-3} } }, a tier left blank
#   where AIHA gives none. Its chlorine ERPG-1/2, HF ERPG-2 and H2S ERPGs equal the other sources cited below.
EPA_AEGL_2009 = (
    "EPA compiled final AEGLs of 2009 (compiled_aegls_050409.pdf) as transcribed in the public Tcl file 'AEGL - Acute "
    "Exposure Guideline Level, Updated 30 sep 2009' (code-index file id 8937842386; secondary)"
)
AIHA_ERPG_2009 = (
    "AIHA ERPG list of 2009 (AIHA 2007 ERPG/WEEL Handbook) as transcribed in the public Tcl file 'ERPG - Emergency "
    "Response Planning Guideline, Updated 30 sep 2009' (code-index file id 8981707989; secondary)"
)
REFERENCE_SOURCES: dict[str, dict[str, str]] = {
    "Cl2": {
        "AEGL-1": "source: Wikipedia 'Acute Exposure Guideline Levels', its chlorine example table (secondary; the EPA "
        "final values of NRC AEGL Vol. 4, 2004), all five durations 0.50",
        "AEGL-2": "source: the same table, 2.8 / 2.8 / 2.0 / 1.0 / 0.71",
        "AEGL-3": "source: the same table, 50 / 28 / 20 / 10 / 7.1",
        "ERPG-1": "source: The Chlorine Institute, 'Chlorine health hazards' (chlorineinstitute.org/chlorine-health-"
        "hazards), quoting AIHA ERPG-1 1 ppm (secondary)",
        "ERPG-2": "source: the same page, AIHA ERPG-2 3 ppm (secondary)",
        "ERPG-3": f"source: {AIHA_ERPG_2009}, line 'Chlorine (7782-50-5) {{ ppm {{ {{ 1 3 20 }} }} }}': ERPG-3 20",
        "IDLH": "source: NIOSH, IDLH documentation, Chlorine, May 1994 (cdc.gov/niosh/idlh/7782505.html): revised "
        "IDLH 10 ppm",
    },
    "HF": {
        "AEGL-1": "source: NRC AEGL Vol. 4 (2004) p. 124 (nap.edu openbook record 10902): 3 ppm / UF 3 = 1 ppm, "
        "applied for up to 8 h",
        "AEGL-2": f"source: {EPA_AEGL_2009}, line 'Hydrogen fluoride (7664-39-3)' {{1.0 95 170}} {{1.0 34 62}} "
        "{1.0 24 44} {1.0 12 22} {1.0 12 22}: AEGL-2 95 / 34 / 24 / 12 / 12; the 30-min to 4-h values follow the "
        "C^2 t = k of NRC Vol. 4 p. 124",
        "AEGL-3": f"source: {EPA_AEGL_2009}, the same line: AEGL-3 170 / 62 / 44 / 22 / 22",
        "ERPG-1": f"source: {AIHA_ERPG_2009}, line 'Hydrogen Fluoride (7664-39-3) {{ ppm {{ {{ 2 20 50 }} }} }}': "
        "ERPG-1 2",
        "ERPG-2": "source: Table 3 of PMC6290397 (pmc.ncbi.nlm.nih.gov/articles/PMC6290397/table/T3), 20 ppm "
        f"'according to AIHA' (secondary); also {AIHA_ERPG_2009}, ERPG-2 20",
        "ERPG-3": f"source: {AIHA_ERPG_2009}, the same line: ERPG-3 50",
        "IDLH": "source: NIOSH, IDLH documentation, Hydrogen fluoride, May 1994 (cdc.gov/niosh/idlh/7664393.html): "
        "original IDLH 30 ppm, not revised; also OSHA Chemical Sampling Information (web archive of osha.gov "
        "CH_246500) and Table 3 of PMC6290397",
    },
    "NH3": {
        "AEGL-1": f"source: {EPA_AEGL_2009}, line 'Ammonia (7664-41-7)' {{30 220 2700}} {{30 220 1600}} "
        "{30 160 1100} {30 110 550} {30 110 390}: AEGL-1 30 at all five durations (NRC AEGL Vol. 6, 2008, ch. 2, "
        "whose summary table was not reachable)",
        "AEGL-2": f"source: {EPA_AEGL_2009}, the same line: AEGL-2 220 / 220 / 160 / 110 / 110",
        "AEGL-3": f"source: {EPA_AEGL_2009}, the same line: AEGL-3 2,700 / 1,600 / 1,100 / 550 / 390",
        "ERPG-1": "source: NIOSH IDLH documentation, Ammonia, May 1994 (cdc.gov/niosh/idlh/7664417.html), quoting the "
        f"1988 AIHA ERPG-1 25 ppm (secondary); also {AIHA_ERPG_2009}, ERPG-1 25",
        "ERPG-2": f"source: {AIHA_ERPG_2009}, line 'Ammonia (7664-41-7) {{ ppm {{ {{ 25 150 750 }} }} }}': ERPG-2 150 "
        "(the 1988 value was 200, as the 1994 NIOSH text quotes)",
        "ERPG-3": f"source: {AIHA_ERPG_2009}, the same line: ERPG-3 750 (the 1988 value was 1,000); a later AIHA "
        "revision to 1,500 ppm was not found in any reachable text (open question)",
        "IDLH": "source: Minnesota Department of Agriculture ammonia safety page (mda.state.mn.us), 'The IDLH for "
        "ammonia is 300 ppm' (secondary; the NIOSH 1994 text was reachable only up to its original 500 ppm)",
    },
    "H2S": {
        "AEGL-1": "source: Table 3 of Nitric Oxide 71 (2017) 1-13 (PMC5777517), citing NRC AEGL Vol. 9 (secondary): "
        "0.75 / 0.60 / 0.51 / 0.36 / 0.33",
        "AEGL-2": "source: the same table, 41 / 32 / 27 / 20 / 17",
        "AEGL-3": "source: the same table, 76 / 59 / 50 / 37 / 31",
        "ERPG-1": "source: the same table, AIHA ERPG-1 0.1",
        "ERPG-2": "source: the same table, AIHA ERPG-2 30",
        "ERPG-3": "source: the same table, AIHA ERPG-3 100",
        "IDLH": "source: the same table, NIOSH IDLH 100",
    },
    "COCl2": {
        "AEGL-1": f"source: {EPA_AEGL_2009}, line 'Phosgene (75-44-5)' {{0.60 3.6}} {{0.60 1.5}} {{0.30 0.75}} "
        "{0.080 0.20} {0.040 0.090}: no AEGL-1 at any duration, the blank the file leaves for EPA's NR (not "
        "recommended; NRC AEGL Vol. 1, 2000)",
        "AEGL-2": f"source: {EPA_AEGL_2009}, the same line: AEGL-2 0.60 / 0.60 / 0.30 / 0.080 / 0.040",
        "AEGL-3": f"source: {EPA_AEGL_2009}, the same line: AEGL-3 3.6 / 1.5 / 0.75 / 0.20 / 0.090",
        "ERPG-1": f"source: {AIHA_ERPG_2009}, line 'Phosgene (75-44-5) {{ ppm {{ {{  0.5 1.5 }} }} }}': no ERPG-1",
        "ERPG-2": f"source: {AIHA_ERPG_2009}, the same line: ERPG-2 0.5; AIHA proposed new phosgene ERPGs for comment "
        "(aiha.org news 2022-12-15), not yet reachable, which may supersede it",
        "ERPG-3": f"source: {AIHA_ERPG_2009}, the same line: ERPG-3 1.5 (the same proposal may supersede it)",
        "IDLH": "source: NIOSH IDLH documentation, Phosgene, May 1994 (origin.cdc.gov/niosh/idlh/75445.html): 2 ppm",
    },
    "HCl": {
        "AEGL-1": "source: NRC AEGL Vol. 4 (2004) p. 78 (nap.edu openbook record 10902): 1.8 ppm at all durations",
        "AEGL-2": "source: NRC Vol. 4 p. 78 for 30 min 43 and 1 h 22 (1,300 ppm / 30, scaled with n = 1); "
        f"{EPA_AEGL_2009}, line 'Hydrogen chloride (7647-01-0)' {{1.8 100 620}} {{1.8 43 210}} {{1.8 22 100}} "
        "{1.8 11 26} {1.8 11 26}: AEGL-2 100 / 43 / 22 / 11 / 11",
        "AEGL-3": f"source: {EPA_AEGL_2009}, the same line: AEGL-3 620 / 210 / 100 / 26 / 26, as NRC Vol. 4 p. 122 "
        "derives them (n = 1 from the 1-h value, the 4-h value adopted for 8 h)",
        "ERPG-1": f"source: {AIHA_ERPG_2009}, line 'Hydrogen Chloride (7647-01-0) {{ ppm {{ {{ 3 20 150 }} }} }}': "
        "ERPG-1 3 (HCl was under AIHA review in 2009)",
        "ERPG-2": f"source: {AIHA_ERPG_2009}, the same line: ERPG-2 20",
        "ERPG-3": f"source: {AIHA_ERPG_2009}, the same line: ERPG-3 150",
        "IDLH": "source: AIHA news 2025-07-24 'Three New IDLH Profiles Available from NIOSH' (copy at "
        "aiha.devurlonly.com): NIOSH IDLH 45 ppm (was 50, OSHA Chemical Sampling Information, HCl)",
    },
}

# AEGL values: US EPA, "Compiled AEGL Values" (final AEGLs), each from the National Research Council's "Acute Exposure
# Guideline Levels for Selected Airborne Chemicals" technical support documents (TSD) cited per substance; the ten
# Berge exponent n is the one each TSD uses to scale between durations (ten Berge, Zwart and Appelman, J. Hazard.
# Mater. 13, 1986).
SUBSTANCES: dict[str, Substance] = {
    # Chlorine: NRC AEGL Vol. 4 (2004). AEGL-1 0.50 at every duration; n = 2 (ten Berge, from rat lethality).
    # All 15 values checked (2026-12) against the EPA chlorine table reproduced in the "Acute Exposure Guideline
    # Levels" encyclopaedia article.
    # IDLH 10 ppm (revised; the original SCP value was 30): NIOSH, "Immediately Dangerous to Life or Health
    # Concentrations: Chlorine" (May 1994), https://cdc.gov/niosh/idlh/7782505.HTML. ERPGs 1 / 3 / 20: the AIHA list
    # of 2009 (AIHA_ERPG_2009 above; a secondary web table gives ERPG-1 0.5, not trusted, left at 1). The EPA 2009
    # transcription (EPA_AEGL_2009) has 0.70 for the 8-h AEGL-2; 0.71 is kept, as the EPA-sourced table gives it.
    "Cl2": Substance(
        "Cl2",
        70.90,
        (0.50, 0.50, 0.50, 0.50, 0.50),
        (2.8, 2.8, 2.0, 1.0, 0.71),
        (50.0, 28.0, 20.0, 10.0, 7.1),
        2.0,
        (1.0, 3.0, 20.0),
        10.0,
        1.0,
        name_en="chlorine",
        name_zh="氯气",
    ),
    # Hydrogen fluoride: NRC AEGL Vol. 4 (2004). n = 2 (TSD, from rat and mouse lethality).
    # Checked (2026-12) against the TSD summary (NRC Vol. 4, p. 124, http://www.nap.edu/openbook.php?record_id=10902&
    # page=124): C^2 t = k from the lethality regressions, and AEGL-1 1 ppm (3 ppm / UF 3) applied up to 8 h.
    # AEGL-2/3: EPA's compiled final AEGLs of 2009 (EPA_AEGL_2009 above), 95 / 34 / 24 / 12 / 12 and 170 / 62 / 44 /
    # 22 / 22, consistent with the TSD's n = 2 (30 min = 1 h x sqrt 2: 34, 62; 4 h = 1 h / 2: 12, 22; 8 h held at
    # the 4-h value; the 10-min values come from separate short-exposure data).
    # IDLH 30 ppm: NIOSH, "Immediately Dangerous to Life or Health Concentrations: Hydrogen fluoride" (May 1994),
    # http://www.cdc.gov/niosh/idlh/7664393.html, and OSHA Chemical Sampling Information, Hydrogen Fluoride
    # (archived https://webarchive.library.unt.edu/web/20090509084351/http://www.osha.gov/dts/chemicalsampling/data/
    # CH_246500.html). ERPG-2 20 ppm (AIHA): Table 3 of PMC6290397 (https://pmc.ncbi.nlm.nih.gov/articles/PMC6290397/
    # table/T3). ERPGs 2 / 20 / 50: the AIHA list of 2009 (AIHA_ERPG_2009 above).
    "HF": Substance(
        "HF",
        20.01,
        (1.0, 1.0, 1.0, 1.0, 1.0),
        (95.0, 34.0, 24.0, 12.0, 12.0),
        (170.0, 62.0, 44.0, 22.0, 22.0),
        2.0,
        (2.0, 20.0, 50.0),
        30.0,
        2.0,
        name_en="hydrogen fluoride",
        name_zh="氟化氢",
    ),
    # Ammonia: NRC AEGL Vol. 6 (2008), chapter 2 (https://www.nap.edu/read/12018/chapter/58.html). n = 2 (TSD, ten
    # Berge from rat and mouse lethality).
    # AEGL-1/2/3: EPA's compiled final AEGLs of 2009 (EPA_AEGL_2009 above; the Vol. 6 summary table itself was not
    # reachable in 2026-12). The AEGL-3 row is consistent with n = 2 from the 1-h 1,100 ppm (10 min 2,700, 30 min
    # 1,600, 4 h 550, 8 h 390).
    # IDLH 300 ppm: Minnesota Department of Agriculture ammonia safety page (https://www.mda.state.mn.us/, search
    # "ammonia IDLH"), quoting NIOSH; the NIOSH 1994 IDLH document (http://www.cdc.gov/niosh/idlh/7664417.html) was
    # only reachable for its original 500 ppm SCP value. ERPGs 25 / 150 / 750: the AIHA list of 2009
    # (AIHA_ERPG_2009 above); whether a later AIHA handbook raised ERPG-3 to 1,500 ppm no reachable text says --
    # open question.
    "NH3": Substance(
        "NH3",
        17.03,
        (30.0, 30.0, 30.0, 30.0, 30.0),
        (220.0, 220.0, 160.0, 110.0, 110.0),
        (2700.0, 1600.0, 1100.0, 550.0, 390.0),
        2.0,
        (25.0, 150.0, 750.0),
        300.0,
        30.0,
        20.0,
        name_en="ammonia",
        name_zh="氨",
    ),
    # Hydrogen sulfide: NRC AEGL Vol. 9 (2010). n = 4.4 (TSD, ten Berge from rat lethality).
    # All 15 values checked (2026-12) against Table 3 of the review in Nitric Oxide 71 (2017) 1-13 (PMC5777517), citing
    # the NRC volume.
    # ERPGs 0.1 / 30 / 100 and IDLH 100 ppm checked (2026-12) against the same table
    # (https://pmc.ncbi.nlm.nih.gov/articles/PMC5777517/table/T3, citing AIHA and NIOSH) and the NIOSH 1994 IDLH
    # document, which quotes the 1991 AIHA ERPGs 0.1 / 30 / 100 (http://www.cdc.gov/niosh/idlh/7783064.html).
    "H2S": Substance(
        "H2S",
        34.08,
        (0.75, 0.60, 0.51, 0.36, 0.33),
        (41.0, 32.0, 27.0, 20.0, 17.0),
        (76.0, 59.0, 50.0, 37.0, 31.0),
        4.4,
        (0.1, 30.0, 100.0),
        100.0,
        10.0,
        name_en="hydrogen sulfide",
        name_zh="硫化氢",
    ),
    # Phosgene: NRC AEGL Vol. 1 (2000). AEGL-1 not recommended (NR, held as None, never a number); n = 1 (TSD:
    # Haber's law holds for phosgene).
    # AEGL-1 (none) and AEGL-2/3: EPA's compiled final AEGLs of 2009 (EPA_AEGL_2009 above; the Vol. 1 summary table
    # itself was not reachable in 2026-12). The rows are consistent with n = 1 from the 1-h values (AEGL-2 0.30 ->
    # 30 min 0.60, 4 h 0.08, 8 h 0.04, 10 min held at the 30-min value; AEGL-3 0.75 -> 30 min 1.5, 8 h 0.09).
    # IDLH 2 ppm: NIOSH, "Immediately Dangerous to Life or Health Concentrations: Phosgene" (May 1994),
    # http://origin.cdc.gov/niosh/idlh/75445.html, and NLM WISER, Phosgene, Range of Toxicity
    # (https://webwiser.nlm.nih.gov/substance?substanceId=59&identifier=Phosgene&identifierType=name&menuItemId=70&
    # catId=86). ERPG-1 none, ERPG-2 0.5, ERPG-3 1.5: the AIHA list of 2009 (AIHA_ERPG_2009 above); AIHA proposed
    # new phosgene ERPGs for comment in December 2022 (https://www.aiha.org/news/221215-additional-proposed-erpgs-
    # available-for-public-comment), so these may be superseded.
    "COCl2": Substance(
        "COCl2",
        98.92,
        None,
        (0.60, 0.60, 0.30, 0.08, 0.04),
        (3.6, 1.5, 0.75, 0.20, 0.09),
        1.0,
        (None, 0.5, 1.5),
        2.0,
        0.5,
        name_en="phosgene",
        name_zh="光气",
    ),
    # Hydrogen chloride: NRC AEGL Vol. 4 (2004). AEGL-1 1.8 at every duration; n = 1 (TSD, ten Berge).
    # Checked (2026-12) against the TSD summary (NRC Vol. 4, p. 78, http://www.nap.edu/openbook.php?record_id=10902&
    # page=78): AEGL-1 1.8 ppm (45-min NOAEL in exercising asthmatics) at all durations, AEGL-2 30 min 1,300 ppm /
    # 30 = 43 ppm, scaled to 1 h with n = 1 (22 ppm). AEGL-3 checked against the TSD derivation summary (p. 122,
    # http://www.nap.edu/openbook.php?record_id=10902&page=122): n = 1, 10 / 30 min and 4 h scaled from the 1-h
    # value, the 4-h value adopted for 8 h, and 50 ppm "already 2 times" the (8-h) AEGL-3: consistent with 620 / 210
    # / 100 / 26 / 26, though the page does not print the numbers; EPA's compiled final AEGLs of 2009
    # (EPA_AEGL_2009 above) print them, and the AEGL-2 10 min 100 and 4 / 8 h 11.
    # IDLH 45 ppm (was 50, the 1994 value): NIOSH's IDLH value profile for hydrogen chloride, draft 2023
    # (https://www.aiha.org/news/230817-niosh-requests-technical-review-of-draft-idlh-value-profile-for-hcl;
    # https://cdc.gov/niosh/peer-review/idlh-hydrogen-chloride.html), published 2025 ("Three New IDLH Profiles
    # Available from NIOSH", AIHA news 2025-07-24, /news/250724-three-new-idlh-profiles-available-from-niosh, read
    # from the copy at aiha.devurlonly.com). ERPGs 3 / 20 / 150: the AIHA list of 2009 (AIHA_ERPG_2009 above).
    "HCl": Substance(
        "HCl",
        36.46,
        (1.8, 1.8, 1.8, 1.8, 1.8),
        (100.0, 43.0, 22.0, 11.0, 11.0),
        (620.0, 210.0, 100.0, 26.0, 26.0),
        1.0,
        (3.0, 20.0, 150.0),
        45.0,
        7.5,
        name_en="hydrogen chloride",
        name_zh="氯化氢",
    ),
}
