"""Allowed values of the coded columns in the department shares (the data contract)."""

AGE_BANDS = ("16-24", "25-34", "35-49", "50-64", "65+")
SEXES = ("F", "M")
# DWP Universal Credit conditionality regimes (Stat-Xplore labels).
CONDITIONALITY_REGIMES = (
    "Searching for work",
    "Working - with requirements",
    "No work requirements",
    "Planning for work",
    "Preparing for work",
    "Working - no requirements",
)
SEARCHING_FOR_WORK = "Searching for work"
DURATION_BANDS = ("0-3 months", "3-6 months", "6-12 months", "1-2 years", "2+ years")
SIC_SECTIONS = tuple("ABCDEFGHIJKLMNOPQRSTU")
# DfE sector subject areas, tier 1.
SSA_TIER1 = (
    "01 Health, Public Services and Care",
    "02 Science and Mathematics",
    "03 Agriculture, Horticulture and Animal Care",
    "04 Engineering and Manufacturing Technologies",
    "05 Construction, Planning and the Built Environment",
    "06 Information and Communication Technology",
    "07 Retail and Commercial Enterprise",
    "08 Leisure, Travel and Tourism",
    "09 Arts, Media and Publishing",
    "10 History, Philosophy and Theology",
    "11 Social Sciences",
    "12 Languages, Literature and Culture",
    "13 Education and Training",
    "14 Preparation for Life and Work",
    "15 Business, Administration and Law",
)
FE_LEVELS = ("Entry", "Level 1", "Level 2", "Level 3", "Level 4+")
FE_PROGRAMMES = ("apprenticeship", "education_and_training", "community_learning")
FE_OUTCOMES = ("start", "achievement", "withdrawal")
SIZE_BANDS = ("micro (0-9)", "small (10-49)", "medium (50-249)", "large (250+)")
