"""`ptr experiment`: the papers' tables reproduced in sim as cached stage graphs."""
