

xPlaceholder*
dtype0

aIdentityb*
T0

bIdentitya*
T0

sumAddV2xa*
T0