"""Pages people look at: the hosted offerwall and the result page surveys return to."""
